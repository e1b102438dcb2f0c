-- apeltools schema, migration 010: fractional cloud CpuCount (MySQL 8 / MariaDB).
--
-- The deployed cloud schema holds CpuCount as DECIMAL(10,3), so its loader
-- stores a VM's "CpuCount: 2.5" (and rounds to the thousandth); ours was an
-- integer and refused the record. CloudRecords now hold the deployed type.
-- CloudSummaries hold the sum of their VMs' counts, so they get more integer
-- digits with the same three decimals. The views over both (VCloudRecords,
-- VAnonCloudRecords, VCloudSummaries and their Ext views) name the columns and
-- need no change: MySQL reads a view's columns from its tables when queried.
-- Works under strict SQL modes (existing integers fit both types exactly).

ALTER TABLE CloudRecords MODIFY CpuCount DECIMAL(10,3) NULL;
ALTER TABLE CloudSummaries MODIFY CpuCount DECIMAL(16,3) NULL;

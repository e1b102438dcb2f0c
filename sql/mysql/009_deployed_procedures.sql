-- apeltools schema, migration 009: what the deployed unloader calls besides the views (MySQL 8 / MariaDB).
--
-- The deployed unloader, run with "interval = latest", reads LastUpdated's "sent" row and
-- afterwards calls UpdateTimestamp('sent'). The time is the caller's NOW(): the same clock in
-- which that caller's session presents the views' UpdateTime (TIMESTAMP) columns it compares.
CREATE PROCEDURE UpdateTimestamp(type VARCHAR(50))
  REPLACE INTO LastUpdated (Type, UpdateTime) VALUES (type, NOW());

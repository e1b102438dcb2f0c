"""Real services (MariaDB, RabbitMQ, ActiveMQ, slapd, a GOCDB stand-in) for tests."""

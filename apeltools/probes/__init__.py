"""Nagios probes (check_apel_*): each a nagiosplugin Resource → Context → Summary over apeltools."""

"""Messaging: signed S/MIME messages, directory queues, transports, sender and receiver."""

"""Peers: the servers motiad is compared with, measured in the same run."""

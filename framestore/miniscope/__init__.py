"""Wireless miniscope recordings: several radio receivers of one device, each a video plus a
CSV of the buffers (packets) it received."""

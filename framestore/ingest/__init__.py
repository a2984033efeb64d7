"""Recordings from outside into stores: plain video files, wireless miniscope receivers."""

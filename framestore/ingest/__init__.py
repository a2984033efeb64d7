"""Recordings from outside into stores: plain video files, wireless miniscope receivers,
and live sources (cameras, devices, files and streams, recorded by ``record``)."""

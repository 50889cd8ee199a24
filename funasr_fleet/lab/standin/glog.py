"""
Log lines in glog's format, as the real servers write them to stderr, and the location the
stand-in names for the lines that are its own.
"""

import datetime
import os

STANDIN = "funasr_standin.py"  # glog location of lines that are the stand-in's own (its launcher)


def glog_line(level, where, message, now=None):
    """A glog line as the real server writes it (FLAGS_logtostderr, funasr-wss-server*.cpp:35)."""
    now = now or datetime.datetime.now()
    return f"{level}{now:%Y%m%d %H:%M:%S.%f} {os.getpid():>7} {where}] {message}"

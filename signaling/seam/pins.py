"""The versions of aiortc and pylibsrtp whose private surface the seams read."""

AIORTC_VERSION = "1.16.0"
PYLIBSRTP_VERSION = "1.0.0"

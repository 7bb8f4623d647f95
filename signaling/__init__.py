"""WebRTC for TwinSpace rooms: the `rtc:*` negotiation and an aiortc forwarding unit.

It forwards encoded media, never decodes or re-encodes it (`seam`), with one
PeerConnection per published stream and one per subscription (`legs`). The
Socket.IO edge talks to `service.MediaService` only. Nothing here imports
socketio or aiohttp.
"""

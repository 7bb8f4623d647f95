"""The TwinSpace room domain: who may do what in a room, and what is kept.

Nothing here imports a transport (socketio, aiohttp, aiortc); the edges in
`live/` and `signaling/` talk to it through the small protocols in
`rooms.store`, `rooms.bus` and `rooms.clock`.
"""

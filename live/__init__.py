"""The service around the room domain: config, CLI, Socket.IO edge, HTTP, pages."""

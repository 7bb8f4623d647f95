"""Every Redis key and channel name the service uses, in one place.

Keys of a room share the hash tag `{space/room}` (Redis Cluster keeps them in
one slot, and a room's bus channel with them):
- `live:{R}:msgs`                 Stream of message ids, no content (store.py)
- `live:{R}:m:<id>`               one message's content, expiring with it (store.py)
- `live:{R}:visits`, `:visits:open` attendance (privacy.py)
- `live:{R}:cid:<n>:<user>:<cid>` message id, for idempotent sends (store.py); `<n>` is the
                                  length of `<user>`, so a `:` in a user id cannot collide
- `live:{R}:conns`, `:users`      presence (store.py)
- `live:{R}:polls`, `:polls:closed`, `:poll:<id>:votes`, `:mutes`, `:ban:<user>`,
  `:flags`                        classroom tools (classroom.py)
- `live:{R}:react:<message id>`   reactions on one message (reactions.py)
- `live:{R}:breakout`, `:group`   a main room's running breakout, a group room's members
                                  (breakouts.py)
- `live:{R}:lobby`, `:admitted`   the lobby (safeguard.py)
- `live:{R}:media`                the process serving the room's media
- `live:{R}:media:settings`, `:streams`, `:streams:n`  media settings and live streams
                                  (media.py)
- `live:{R}:bus`                  the room's sharded pub/sub channel (bus.py)
- `live:{R}:pms`, `:pm:<id>`, `:pmcid:…` private messages: ids, one message's content,
                                  idempotency (private.py)
Per space: `live:space:<S>:policy` (schools' limits), `live:space:<S>:purges` (receipts),
`live:space:<S>:user:<n>:<user>` (the user's messages, for erasure) (privacy.py),
`live:space:<S>:pmuser:<n>:<user>` (private messages the user sent or received) (private.py).
Shared: `live:retention`, `live:private` (private.py), `live:visits`, `live:policies`,
`live:aof:*`, `live:procs`, `live:proc:<P>:conns`, `live:reap:<P>`, `live:space:<S>:rooms`,
`live:space:<S>:teachers`, `live:space:<S>:audit`, `live:audit:index`, `live:polls`, the filter's
`live:space:<S>:filter`, `:held`, `:held:<id>`, `:flagged` (filter.py),
`live:space:<S>:opened`, `live:space:<S>:reports`, `live:reports:until` (safeguard.py), the
notices channel `live:notices`,
and each process's channel of directed calls `live:proc:<P>:calls`.
Limits: `live:rate:<kind>:<n>:<who>` one token bucket (limiter.py; `<n>` is the length
of `<who>`, as in `cid`); `live:caps:user:<n>:<who>`, `live:caps:addr:<address>` the
connections per process of a user and of an address, `live:proc:<P>:caps` the caps
hashes process P counts in (caps.py).
"""

from __future__ import annotations

PREFIX = "live:"
RETENTION_INDEX = "live:retention"  # zset room key -> oldest message ms
PROCS = "live:procs"  # zset process id -> last heartbeat ms
REPORTS_UNTIL = "live:reports:until"  # zset space\0report id -> ms the evidence ends
NOTICES = "live:notices"  # pub/sub channel of notices, every process subscribed
VISITS_INDEX = "live:visits"  # zset room key -> oldest visit's start ms
PRIVATE_INDEX = "live:private"  # zset room key -> oldest private message ms
POLICIES = "live:policies"  # zset space -> effective retention ms (spaces with a policy)
AUDIT_INDEX = "live:audit:index"  # zset space -> its oldest audit entry's ms
POLLS_INDEX = "live:polls"  # zset room key -> its oldest poll's ms
AOF_DIRTY = "live:aof:dirty"  # set when a purge removed something since the last rewrite
AOF_LOCK = "live:aof:rewrite"  # held a day by the process that asked for the last rewrite

_ROOM_HEAD = "live:{"
_BUS_TAIL = "}:bus"


def room(room_key: str, what: str) -> str:
    """A key of the room, e.g. `room(k, "msgs")`."""
    return f"{_ROOM_HEAD}{room_key}}}:{what}"


def room_channel(room_key: str) -> str:
    return room(room_key, "bus")


def room_of_channel(channel: str) -> str | None:
    if channel.startswith(_ROOM_HEAD) and channel.endswith(_BUS_TAIL):
        return channel[len(_ROOM_HEAD):-len(_BUS_TAIL)]
    return None


def cid(room_key: str, user: str, client_id: str) -> str:
    """The idempotency key of `(user, client_id)`. User ids may hold `:`, so the user id is
    length-prefixed: user `a:b` with cid `c` and user `a` with cid `b:c` are two keys."""
    return room(room_key, f"cid:{_prefixed(user)}:{client_id}")


def message_prefix(room_key: str) -> str:
    """The content key of message `<id>` is this followed by the id."""
    return room(room_key, "m:")


def space_policy(space: str) -> str:
    return f"live:space:{space}:policy"


def purges(space: str) -> str:
    return f"live:space:{space}:purges"


def user_messages(space: str, user: str) -> str:
    """Zset of `<room>:<id>` of the user's messages in the space, scored by ms."""
    return f"live:space:{space}:user:{_prefixed(user)}"


def private_prefix(room_key: str) -> str:
    """The content key of private message `<id>` is this followed by the id."""
    return room(room_key, "pm:")


def private_cid(room_key: str, user: str, client_id: str) -> str:
    """The idempotency key of a private message, length-prefixed as `cid`."""
    return room(room_key, f"pmcid:{_prefixed(user)}:{client_id}")


def private_user(space: str, user: str) -> str:
    """Zset of `<room>:<id>` of the private messages the user sent or received, by ms."""
    return f"live:space:{space}:pmuser:{_prefixed(user)}"


def reactions(room_key: str, message_id: str) -> str:
    return room(room_key, f"react:{message_id}")


def space_rooms(space: str) -> str:
    return f"live:space:{space}:rooms"


def space_teachers(space: str) -> str:
    return f"live:space:{space}:teachers"


def space_opened(space: str) -> str:
    return f"live:space:{space}:opened"


def space_reports(space: str) -> str:
    return f"live:space:{space}:reports"


def space_filter(space: str) -> str:
    return f"live:space:{space}:filter"


def space_held(space: str, held_id: str | None = None) -> str:
    """The space's index of held messages, or (with `held_id`) one held message."""
    return f"live:space:{space}:held" + ("" if held_id is None else f":{held_id}")


def space_flagged(space: str) -> str:
    return f"live:space:{space}:flagged"


def proc_conns(proc: str) -> str:
    return f"live:proc:{proc}:conns"


def proc_calls(proc: str) -> str:
    """The pub/sub channel of directed calls to process `proc`, and replies to its calls."""
    return f"live:proc:{proc}:calls"


def reap_lock(proc: str) -> str:
    return f"live:reap:{proc}"


def audit(space: str) -> str:
    """(Before issue #12 audit entries were a Stream at `live:audit:<S>`: it expires.)"""
    return f"live:space:{space}:audit"


def media(room_key: str) -> str:
    return room(room_key, "media")


def rate(who: str, kind: str) -> str:
    """The token bucket of `who` (space and user) for `kind`; `who` is length-prefixed, so
    no user id (whatever it holds) can name another's bucket."""
    return f"live:rate:{kind}:{_prefixed(who)}"


def caps_user(who: str) -> str:
    """Connections of `who` (space and user) per process, length-prefixed as `rate`."""
    return f"live:caps:user:{_prefixed(who)}"


def caps_address(address: str) -> str:
    return f"live:caps:addr:{address}"


def proc_caps(proc: str) -> str:
    return f"live:proc:{proc}:caps"


def _prefixed(text: str) -> str:
    """`text` behind its length: whatever it holds (`:` included), it cannot run into
    the part of the key after it."""
    return f"{len(text)}:{text}"

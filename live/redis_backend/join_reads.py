"""A join's two reads in Redis, one round trip each: `admission` and `snapshot`.

Why (rooms/join_store.py): a join used to make about fifteen calls to Redis one after
the other (ban, flags, group, members, history, reactions, polls and their votes,
flags again, mutes, group again, breakout, streams, media settings), and in redis-py a
call costs this process about 60-100 us of CPU (pool checkout, timeouts, packing,
parsing) whatever Redis does with it. Here each read is one Lua script: one call.

How: each script reads the keys the single reads read, with the same rules. The page of
history is the `READ` script itself, run inside as a function (`_with_read`), so the
retention of a space (its schools' policy) is applied by the same code as
`chat:history`; a room is "opened" as `Lesson.check_open` wants it (a teacher opened it
within the retention, or it still has history). Replies are decoded by the same
functions as the single reads (`flags_of`, `mutes_of`, ...); members and messages by
`decoded.py` (the same rules as `records.py`), which decodes only what changed since
the room's last snapshot. Keys built inside the scripts (a message's reactions, a
poll's votes) get their prefixes from `keys.py`.
Expired polls are skipped as `open_polls` skips them (their removal is left to it and to
the sweep: these are reads).

Order: a script runs alone in Redis, so each read is a consistent picture of the room
at one instant (the single reads were not even that).

On failure: a `RedisError` (Redis away, a timeout) becomes `Unavailable`; nothing was
written. NOSCRIPT (Redis restarted) is handled by redis-py's `Script`, which loads the
script and calls it again.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError

from rooms.breakouts import Breakout, Group
from rooms.clock import Clock
from rooms.errors import Unavailable
from rooms.identity import RoomRef
from rooms.join_store import Admission, RoomSnapshot
from rooms.message import Page
from rooms.polls import Poll
from rooms.reactions import ReactionSet
from rooms.store import DEFAULT_PAGE, Store

from . import keys
from .classroom import ban_of, flags_of, mutes_of, poll_order, votes_of
from .decoded import DecodedRooms
from .frames import unpack
from .media import settings_of, streams_of
from .pipeline import ScriptPipeline
from .reactions import reactions_of
from .safeguard import fresh
from .scripts import READ


def _with_read(body: str) -> str:
    """`body` with `read(KEYS, ARGV)`: the `READ` script (scripts.py) as a function."""
    return f"local function read(KEYS, ARGV)\n{READ}\nend\n{body}"


# KEYS: opened zset of the space, the user's ban, flags, group, admitted, message stream,
# policies. ARGV: room name, user, opened-since ms, now ms, service retention ms, space,
# content key prefix. Returns {opening ms or false, has history (0/1), ban, flags (flat),
# group, admitted ms}.
ADMISSION = _with_read("""
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
local has = 0
if not at or tonumber(at) <= tonumber(ARGV[3]) then
  local page = read({KEYS[6], KEYS[7]}, {ARGV[4], ARGV[5], ARGV[6], 'before', '', 2, ARGV[7]})
  for i = 2, #page, 2 do
    if page[i] then has = 1 end
  end
end
return {at or false, has, redis.call('GET', KEYS[2]), redis.call('HGETALL', KEYS[3]),
        redis.call('GET', KEYS[4]), redis.call('HGET', KEYS[5], ARGV[2])}
""")

# KEYS: conns, message stream, policies, polls, polls:closed, flags, mutes, group,
# breakout, streams, media settings. ARGV: now ms, service retention ms, space, page size
# + 1, content key prefix, reactions key prefix, poll key prefix, poll votes key suffix.
# Returns {conns (flat), page (id, content, ...), reactions per page id (flat each),
# polls (flat), closed poll ids, votes per poll (flat each; {} for a closed one), flags
# (flat), mutes (flat), group, breakout, streams (flat), media settings}.
_SNAPSHOT_BODY = """
local page = read({KEYS[2], KEYS[3]}, {ARGV[1], ARGV[2], ARGV[3], 'before', '', ARGV[4],
                                       ARGV[5]})
local reactions = {}
for i = 1, #page, 2 do
  reactions[#reactions + 1] = redis.call('HGETALL', ARGV[6] .. page[i])
end
local polls = redis.call('HGETALL', KEYS[4])
local closed = redis.call('SMEMBERS', KEYS[5])
local is_closed = {}
for _, id in ipairs(closed) do is_closed[id] = true end
local votes = {}
for i = 1, #polls, 2 do
  if is_closed[polls[i]] then
    votes[#votes + 1] = {}
  else
    votes[#votes + 1] = redis.call('HGETALL', ARGV[7] .. polls[i] .. ARGV[8])
  end
end
return {redis.call('HGETALL', KEYS[1]), page, reactions, polls, closed, votes,
        redis.call('HGETALL', KEYS[6]), redis.call('HGETALL', KEYS[7]),
        redis.call('GET', KEYS[8]), redis.call('GET', KEYS[9]),
        redis.call('HGETALL', KEYS[10]), redis.call('GET', KEYS[11])}
"""
SNAPSHOT = _with_read(_SNAPSHOT_BODY)


def entered_snapshot(enter: str) -> str:
    """One script: `enter` (the store's ENTER), then `SNAPSHOT`, atomically, so the
    members read include the one who entered. KEYS: ENTER's, then SNAPSHOT's. ARGV: how
    many of the KEYS and of the ARGV that follow are ENTER's, ENTER's ARGV, SNAPSHOT's.
    Returns {what ENTER returns, what SNAPSHOT returns}."""
    return f"""local function read(KEYS, ARGV)
{READ}
end
local function enter(KEYS, ARGV)
{enter}
end
local function snapshot(KEYS, ARGV)
{_SNAPSHOT_BODY}
end
local nk, na = tonumber(ARGV[1]), tonumber(ARGV[2])
local ek, ea, sk, sa = {{}}, {{}}, {{}}, {{}}
for i = 1, #KEYS do
  if i <= nk then ek[#ek + 1] = KEYS[i] else sk[#sk + 1] = KEYS[i] end
end
for i = 3, #ARGV do
  if i <= na + 2 then ea[#ea + 1] = ARGV[i] else sa[#sa + 1] = ARGV[i] end
end
local n = enter(ek, ea)
return {{n, snapshot(sk, sa)}}
"""

VOTES_SUFFIX = ":votes"  # a poll's votes: `keys.room(R, "poll:<id>:votes")` (classroom.py)


def _pairs(flat: list[Any]) -> dict[Any, Any]:
    """An `HGETALL` reply as a script returns it (flat) as redis-py's dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


class RedisJoinReads(Store):
    _r: Any
    _clock: Clock

    def _init_join_reads(self) -> None:
        # reads: in pipelines of their own, which confirm nothing with replicas
        self._admission = ScriptPipeline(self._r, ADMISSION, confirm=False)
        self._snapshot = ScriptPipeline(self._r, SNAPSHOT, confirm=False)
        # entries and messages decoded by the room's last snapshot, reused (decoded.py)
        self._decoded = DecodedRooms()

    async def _close_join_reads(self) -> None:
        await self._admission.aclose()
        await self._snapshot.aclose()

    async def admission(self, room: RoomRef, user: str) -> Admission:
        now = self._clock.now_ms()
        since = now - self.retention_ms
        try:
            at, has, ban, flags, group, admitted = await self._admission(
                keys=[keys.space_opened(room.space), keys.room(room.key, f"ban:{user}"),
                      keys.room(room.key, "flags"), keys.room(room.key, "group"),
                      keys.room(room.key, "admitted"), keys.room(room.key, "msgs"),
                      keys.POLICIES],
                args=[room.name, user, since, now, self.retention_ms, room.space,
                      keys.message_prefix(room.key)])
        except RedisError as exc:
            raise Unavailable() from exc
        return Admission(fresh(at, since) or bool(has), ban_of(ban, now),
                         flags_of(_pairs(flags)),
                         None if group is None else Group.from_record(unpack(group)),
                         fresh(admitted, since))

    async def snapshot(self, room: RoomRef) -> RoomSnapshot:
        now = self._clock.now_ms()
        names, args = self._snapshot_call(room, now)
        try:
            reply = await self._snapshot(keys=names, args=args)
        except RedisError as exc:
            raise Unavailable() from exc
        return self._snapshot_of(room, reply, now)

    def _snapshot_call(self, room: RoomRef, now: int) -> tuple[list[str], list[Any]]:
        """The KEYS and ARGV of `SNAPSHOT` for the room."""
        return ([keys.room(room.key, "conns"), keys.room(room.key, "msgs"), keys.POLICIES,
                 keys.room(room.key, "polls"), keys.room(room.key, "polls:closed"),
                 keys.room(room.key, "flags"), keys.room(room.key, "mutes"),
                 keys.room(room.key, "group"), keys.room(room.key, "breakout"),
                 keys.room(room.key, "streams"), keys.room(room.key, "media:settings")],
                [now, self.retention_ms, room.space, DEFAULT_PAGE + 1,
                 keys.message_prefix(room.key), keys.reactions(room.key, ""),
                 keys.room(room.key, "poll:"), VOTES_SUFFIX])

    def _snapshot_of(self, room: RoomRef, reply: list[Any], now: int) -> RoomSnapshot:
        """The room as a `SNAPSHOT` reply read at `now` shows it."""
        (conns, flat_page, reactions, polls, closed, votes, flags, mutes, group, breakout,
         streams, settings) = reply
        msgs = self._decoded.contents(room, flat_page)  # newest first, gone ones skipped
        page = Page(list(reversed(msgs[:DEFAULT_PAGE])), len(msgs) > DEFAULT_PAGE)
        shown = {m.id for m in page.messages}
        found: dict[str, ReactionSet] = {}
        for mid, row in zip(flat_page[::2], reactions, strict=True):
            if row and mid.decode() in shown:
                found[mid.decode()] = reactions_of(list(_pairs(row).items()))
        return RoomSnapshot(
            self._decoded.members(room, conns), page, found,
            self._open_polls(polls, closed, votes, now), flags_of(_pairs(flags)),
            mutes_of(_pairs(mutes)),
            None if group is None else Group.from_record(unpack(group)),
            None if breakout is None else Breakout.from_record(unpack(breakout)),
            streams_of(_pairs(streams)), settings_of(settings))

    def _open_polls(self, flat: list[Any], closed: list[bytes], votes: list[Any],
                    now: int) -> list[Poll]:
        """The open polls of a `SNAPSHOT` reply, as `open_polls` reads them."""
        closed_ids = {c.decode() for c in closed}
        horizon = now - self.retention_ms
        out = []
        for (pid_raw, rec_raw), voted in zip(_pairs(flat).items(), votes, strict=True):
            pid = pid_raw.decode()
            rec = unpack(rec_raw)
            if int(rec["ts"]) <= horizon or pid in closed_ids:
                continue
            out.append(Poll.from_record(pid, rec, True, votes_of(_pairs(voted))))
        return poll_order(out)

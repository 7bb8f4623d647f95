"""The Lua scripts of the Redis history (store.py), and why history is kept this way.

Deletion that reaches the bytes: a Redis Stream does not remove an entry on
`XDEL` or on an exact `XTRIM MINID`; it flags it inside its listpack node, and the
bytes stay in memory and in every snapshot until the whole node goes. So the
stream `live:{R}:msgs` holds ids only (each entry is `m` = empty: nothing to
leak), and each message's content (msgpack `{c, u, t}`: cid, author, text) is a
string key of its own, `live:{R}:m:<id>`, expiring at `ts` plus the space's
retention. A delete, a purge or an erasure `DEL`s that key: Redis frees the
string, and no later snapshot or rewritten append-only file holds it. The
stream's flagged entries keep only ids and an empty field.

Cost: one more key per message (about 60 bytes of Redis overhead, and a `SET` in
the APPEND script, still one call); reading a page is one script too (`READ`:
the stream range and an `MGET` of the contents). The sweep `DEL`s keys in
batches of `TRIM_BATCH`, so one call never holds Redis for long.

A space's effective retention (a school's policy) is in the zset
`live:policies`; the scripts read it, so every process applies a new policy at
once, without a cache to go stale.
"""

from __future__ import annotations

TRIM_BATCH = 500
DIRTY_MS = 2 * 86_400_000  # `live:aof:dirty`'s own expiry (compaction.py)

# KEYS: stream, cid key, retention index, mutes hash, policies zset, user index.
# ARGV: service retention ms, channel, entry, frame prefix, frame mid, frame suffix,
# room key, author ('' for a teacher), content key prefix, space, room name.
# A known cid returns the first message (its content, or nothing if deleted since);
# a new message of an author muted for chat is refused ({-1}) in the same step.
APPEND = """
local prev = redis.call('GET', KEYS[2])
if prev then
  return {0, prev, redis.call('GET', ARGV[9] .. prev)}
end
if ARGV[8] ~= '' then
  local muted = redis.call('HGET', KEYS[4], ARGV[8])
  if muted and string.find(',' .. muted .. ',', ',chat,', 1, true) then
    return {-1, false, false}
  end
end
local ttl = tonumber(ARGV[1])
local policy = redis.call('ZSCORE', KEYS[5], ARGV[10])
if policy and tonumber(policy) < ttl then ttl = tonumber(policy) end
local id = redis.call('XADD', KEYS[1], '*', 'm', '')
local ms = tonumber(string.sub(id, 1, string.find(id, '-', 1, true) - 1))
local at = string.format('%.0f', ms + ttl)
redis.call('SET', ARGV[9] .. id, ARGV[3], 'PXAT', at)
redis.call('SET', KEYS[2], id, 'PX', ttl)
redis.call('PEXPIREAT', KEYS[1], at)
redis.call('ZADD', KEYS[3], 'NX', ms, ARGV[7])
redis.call('PEXPIRE', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[6], ms, ARGV[11] .. ':' .. id)
redis.call('PEXPIREAT', KEYS[6], at)
local frame = ARGV[4] .. cmsgpack.pack(ms) .. ARGV[5] .. cmsgpack.pack(id) .. ARGV[6]
redis.call('SPUBLISH', ARGV[2], frame)
return {1, id, false}
"""

# KEYS: stream, policies zset. ARGV: now ms, service retention ms, space, direction
# ('after' or 'before'), cursor id ('' for none), count, content key prefix.
# Returns {id, content, id, content, ...} in stream order of the direction (content
# false if the message went meanwhile), only messages within the space's retention.
READ = """
local ttl = tonumber(ARGV[2])
local policy = redis.call('ZSCORE', KEYS[2], ARGV[3])
if policy and tonumber(policy) < ttl then ttl = tonumber(policy) end
local floor_ms = tonumber(ARGV[1]) - ttl + 1
if floor_ms < 0 then floor_ms = 0 end
local floor = string.format('%.0f', floor_ms) .. '-0'
local rows
if ARGV[4] == 'after' then
  local start = floor
  if ARGV[5] ~= '' then
    local cms, cseq = string.match(ARGV[5], '^(%d+)-(%d+)$')
    if tonumber(cms) >= floor_ms then start = '(' .. ARGV[5] end
  end
  rows = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', ARGV[6])
else
  local top = '+'
  if ARGV[5] ~= '' then top = '(' .. ARGV[5] end
  rows = redis.call('XREVRANGE', KEYS[1], top, floor, 'COUNT', ARGV[6])
end
if #rows == 0 then return {} end
local names = {}
for i, row in ipairs(rows) do names[i] = ARGV[7] .. row[1] end
local contents = redis.call('MGET', unpack(names))
local out = {}
for i, row in ipairs(rows) do
  out[2 * i - 1] = row[1]
  out[2 * i] = contents[i]
end
return out
"""

# KEYS: stream, retention index, AOF dirty flag. ARGV: floor ms (what is older goes),
# room key, content key prefix, batch size. Removes up to a batch of messages older than the
# floor (their contents first); returns {removed, done}. When done, re-files the room
# under its oldest message (or forgets it: no messages left).
TRIM = """
local rows = redis.call('XRANGE', KEYS[1], '-', '(' .. ARGV[1] .. '-0', 'COUNT', ARGV[4])
local n = 0
if #rows > 0 then
  local names, ids = {}, {}
  for i, row in ipairs(rows) do
    names[i] = ARGV[3] .. row[1]
    ids[i] = row[1]
  end
  redis.call('DEL', unpack(names))
  n = redis.call('XDEL', KEYS[1], unpack(ids))
  redis.call('SET', KEYS[3], '1', 'PX', '$DIRTY_MS')
end
if #rows == tonumber(ARGV[4]) then return {n, 0} end
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1] .. '-0')
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #first == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
else
  local ms = tonumber(string.sub(first[1][1], 1, string.find(first[1][1], '-', 1, true) - 1))
  redis.call('ZADD', KEYS[2], ms, ARGV[2])
end
return {n, 1}
""".replace("$DIRTY_MS", str(DIRTY_MS))

# KEYS: stream, AOF dirty flag. ARGV: content key prefix, ids... Removes those messages
# (content and entry); returns the ids that were there.
REMOVE = """
local gone = {}
for i = 2, #ARGV do
  if redis.call('DEL', ARGV[1] .. ARGV[i]) == 1 then gone[#gone + 1] = ARGV[i] end
  redis.call('XDEL', KEYS[1], ARGV[i])
end
if #gone > 0 then redis.call('SET', KEYS[2], '1', 'PX', '$DIRTY_MS') end
return gone
""".replace("$DIRTY_MS", str(DIRTY_MS))

# KEYS: policy hash, policies zset. ARGV: school, days, space, service retention ms,
# ms per day. Sets the school's limit; returns the space's effective retention (ms).
POLICY = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[4])
for _, days in ipairs(redis.call('HVALS', KEYS[1])) do
  local ms = math.floor(tonumber(days) * tonumber(ARGV[5]))
  if ms < 1 then ms = 1 end
  if ms < ttl then ttl = ms end
end
redis.call('ZADD', KEYS[2], ttl, ARGV[3])
return ttl
"""

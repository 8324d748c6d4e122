//! The Lua scripts of the Redis store. Each decides in one step, atomically: Redis runs a
//! script at once. [`super::RedisVerifier::new`] assembles them (the prelude and the shared
//! functions first, then the body), and `batch::wrap` turns insert and receive into their
//! batch forms.

use super::COUNTS_TTL_MS;

/// Prepended to every script: `count` adds to the instance's counts hash (key `ARGV[n]` named
/// by each script), giving it a lifetime when it makes a field (and so perhaps the hash);
/// `counted` renews the lifetime (the sweep's, once a second: not on the request path).
/// Numbers go to `redis.call` as strings where they can: Redis 7 formats a Lua number argument
/// with `snprintf("%.17g")`, a few thousand instructions each.
pub(super) fn count_prelude() -> String {
    format!(
        r"
local function counted(key)
  redis.call('PEXPIRE', key, '{COUNTS_TTL_MS}')
end
local function count(key, field, n)
  if n > 0 and redis.call('HINCRBY', key, field, n == 1 and '1' or n) == n then counted(key) end
end
"
    )
}

/// Expires what is due by the caller's clock as the memory store's sweep does: the challenge
/// reads expired, its code is free (a late message finds nothing, as in memory, even while the
/// code key's own TTL, which follows Redis' clock, has not run out) and it leaves the pending
/// set. The pending set holds only pending challenges (leaving `pending` any other way removes
/// the id), so each expiry is done, and counted, once across every instance sharing the prefix.
/// At most 1,000 per call, to keep Redis responsive; the rest go on the next call.
pub(super) const EXPIRE_DUE: &str = r"
local function expire_due(p, now)
  local ids = redis.call('ZRANGEBYSCORE', p .. 'pending', '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(ids) do
    local ch = p .. 'ch:' .. id
    local code = redis.call('HGET', ch, 'code')
    if code then
      local code_key = p .. 'code:' .. code
      local held = redis.call('GET', code_key)
      if held and string.sub(held, 1, #id) == id then redis.call('DEL', code_key) end
      redis.call('HSET', ch, 'status', 'expired')
    end
    redis.call('ZREM', p .. 'pending', id)
  end
  return #ids
end
local function live_pending(p, now)
  return redis.call('ZCOUNT', p .. 'pending', '(' .. now, '+inf')
end
";

/// A code key's value: `id expires expected` (`expected` may be empty), which is what a
/// receive and an insert need, so neither reads the challenge hash. A code key exists only
/// while its challenge is pending (leaving `pending` deletes it). An earlier version wrote
/// only the id: then the hash is read.
pub(super) const HOLDER: &str = r"
local function holder(p, v)
  local id, expires, expected = string.match(v, '^(%S+) (%d+) (.*)$')
  if id then return id, tonumber(expires), expected end
  local st = redis.call('HMGET', p .. 'ch:' .. v, 'status', 'expires', 'expected')
  if st[1] ~= 'pending' then return nil end
  return v, tonumber(st[2]), st[3] or ''
end
";

/// Only live challenges count against `max_pending`, as in the memory store: below the bound
/// the insert expires nothing (a challenge past its time stays matchable, and a late message
/// reads `expired`); at the bound it first expires what is due by the caller's clock (the
/// sweeps, at most 1,000 a call, may have fallen behind) and refuses only if the challenges
/// still live fill it. The code check goes by the caller's clock, so a due challenge holds no
/// code.
///
/// Each `redis.call` costs Redis about 2 µs besides the command's own work (round six in
/// docs/performance.md), so the common case takes four: the pending set's size is read once
/// per script run (`known_pending`, kept up to date by each insert's `ZADD`, so the calls of a
/// batch after the first skip the `ZCARD`), and the code is claimed with `SET NX`, which is
/// nearly always free in a sparse code space; only a code already held is read, and taken over
/// if its holder is no longer pending by the caller's clock.
///
/// `ARGV`: prefix, now, max_pending, expires, expected sender, when the challenge hash expires
/// (`expires` + retention), counts hash, then (code, id) pairs. Strings are read as numbers
/// only where a comparison needs it (each `tonumber` is a `strtod`).
pub(super) const INSERT: &str = r"
local p, counts = ARGV[1], ARGV[7]
local max_pending = tonumber(ARGV[3])
local pending = p .. 'pending'
local n = known_pending[pending] or redis.call('ZCARD', pending)
if n >= max_pending then
  local now = tonumber(ARGV[2])
  count(counts, 'expired', expire_due(p, now))
  n = nil
  known_pending[pending] = nil
  if live_pending(p, now) >= max_pending then
    count(counts, 'starts_refused', 1)
    return {'full'}
  end
end
for i = 8, #ARGV, 2 do
  local code_key, id = p .. 'code:' .. ARGV[i], ARGV[i + 1]
  local held_by = id .. ' ' .. ARGV[4] .. ' ' .. ARGV[5]
  local free = redis.call('SET', code_key, held_by, 'PXAT', ARGV[4], 'NX')
  if not free then
    -- Held, but only a challenge still pending by the caller's clock (Redis' own may differ)
    -- keeps it.
    local held, holder_id, expires = redis.call('GET', code_key), nil, nil
    if held then holder_id, expires = holder(p, held) end
    if holder_id == nil or expires <= tonumber(ARGV[2]) then
      redis.call('SET', code_key, held_by, 'PXAT', ARGV[4])
      free = true
    end
  end
  if free then
    local ch = p .. 'ch:' .. id
    redis.call('HSET', ch, 'code', ARGV[i], 'status', 'pending', 'expires', ARGV[4])
    redis.call('PEXPIREAT', ch, ARGV[6])
    local added = redis.call('ZADD', pending, ARGV[4], id)
    if n then known_pending[pending] = n + added end
    count(counts, 'starts', 1)
    return {'ok', id, ARGV[i]}
  end
end
return {'taken'}
";

/// A replay's lookup: the first answer to delivery `ARGV[2]`, counted as a duplicate, or nil.
pub(super) const LOOKUP: &str = r"
local seen = redis.call('GET', ARGV[1] .. 'dd:' .. ARGV[2])
if seen and seen ~= 'claimed' then count(ARGV[3], 'duplicates', 1) end
return seen
";

/// Answers `{expired now, still pending, the instance's counts as HGETALL gives them}`.
pub(super) const SWEEP: &str = r"
local p, now, counts = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local expired = expire_due(p, now)
count(counts, 'expired', expired)
counted(counts)
return {expired, live_pending(p, now), redis.call('HGETALL', counts)}
";

/// The code key is taken with `GETDEL`, since nearly every message that finds a challenge
/// ends it (one call fewer than `GET` and `DEL`); a sender mismatch short of the lock puts it
/// back as it was. A key whose holder is no longer pending (an earlier version's) is left
/// deleted: it held nothing.
///
/// Counts what it decides: a repeat only as a duplicate; anything else by its outcome (`messages`
/// is their sum, see [`super::MESSAGES_ARE`]: one count per message), and as stuffed when `ARGV[9]`
/// says so. `ARGV[10]` is `1` when this call decides the message; `0` when it tries only the
/// candidates of one bucket of several (a cluster, see `receive`): a `no_match` there is not
/// the message's outcome and is not counted. A record `claimed` is a delivery another request
/// is deciding across buckets right now.
pub(super) const RECEIVE: &str = r"
local p, now, delivery, counts = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[8]
local dedupe_key = p .. 'dd:' .. delivery
if delivery ~= '' then
  local seen = redis.call('GET', dedupe_key)
  if seen then
    if seen ~= 'claimed' then count(counts, 'duplicates', 1) end
    return {1, seen}
  end
end
local out, kind = ARGV[7], 'no_match'
if out ~= '' then
  kind = out == 'no_code' and 'no_code' or 'ignored'
else
  out = 'no_match ' .. (#ARGV - 10)
  for i = 11, #ARGV do
    local code_key = p .. 'code:' .. ARGV[i]
    local held = redis.call('GETDEL', code_key)
    local id, expires, expected
    if held then id, expires, expected = holder(p, held) end
    if id then
      local ch = p .. 'ch:' .. id
      local done = true
      if expires <= now then
        redis.call('HSET', ch, 'status', 'expired')
        count(counts, 'expired', 1)
        out, kind = 'expired ' .. id, 'expired_messages'
      elseif expected ~= '' and expected ~= ARGV[5] then
        local failures = redis.call('HINCRBY', ch, 'failures', 1)
        done = failures >= tonumber(ARGV[6])
        if done then
          redis.call('HSET', ch, 'status', 'locked')
          count(counts, 'locked', 1)
        end
        out, kind = 'sender_mismatch ' .. id .. ' ' .. (done and 1 or 0), 'sender_mismatches'
      else
        redis.call('HSET', ch, 'status', 'verified', 'sender', ARGV[5], 'verified_at', ARGV[2])
        out, kind = 'verified ' .. id, 'verifications'
      end
      if done then
        redis.call('ZREM', p .. 'pending', id)
      else
        redis.call('SET', code_key, held, 'PXAT', string.format('%.0f', expires))
      end
      break
    end
  end
end
if delivery ~= '' then redis.call('SET', dedupe_key, out, 'PX', ARGV[4]) end
if ARGV[10] == '1' or kind ~= 'no_match' then count(counts, kind, 1) end
if ARGV[9] ~= '0' then count(counts, 'stuffed', tonumber(ARGV[9])) end
return {0, out}
";

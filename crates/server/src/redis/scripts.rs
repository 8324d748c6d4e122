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
/// reads expired from then on (its `done:` record), and a late message finds nothing, as in
/// memory, even while its code key, whose TTL follows Redis' clock, is still there: a code key
/// whose holder has left the pending set holds nothing (see RECEIVE). The pending set holds
/// only pending challenges (leaving `pending` any other way removes the id), so each expiry is
/// done, and counted, once across every instance sharing the prefix. At most 1,000 per call,
/// to keep Redis responsive; the rest go on the next call.
pub(super) const EXPIRE_DUE: &str = r"
local function expire_due(p, now, retention)
  local due = redis.call('ZRANGEBYSCORE', p .. 'pending', '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1000)
  for i = 1, #due, 2 do
    local id, expires = due[i], tonumber(due[i + 1])
    finish(p, id, expires, retention, string.format('expired %.0f', expires))
    redis.call('ZREM', p .. 'pending', id)
  end
  return #due / 2
end
local function live_pending(p, now)
  return redis.call('ZCOUNT', p .. 'pending', '(' .. now, '+inf')
end
";

/// A code key's value: `id expires expected` (`expected` may be empty), all a receive and an
/// insert need: while it is pending, a challenge is this value and its entry in the pending
/// set. Leaving `pending` by a message deletes the key; an expiry leaves it to its TTL, and
/// its holder, no longer in the pending set, holds nothing. Versions before `done:` records
/// kept a challenge hash (`ch:`), and the earliest of them wrote only the id here: then the
/// hash is read.
///
/// `finish` records how a challenge ended as its `done:` record (read by a status lookup), kept
/// `retention` after its expiry.
pub(super) const CHALLENGE: &str = r"
local function finish(p, id, expires, retention, record)
  redis.call('SET', p .. 'done:' .. id, record, 'PXAT', string.format('%.0f', expires + retention))
end
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
/// docs/performance.md), so the common case takes two, `SET NX` and `ZADD`, plus the count (once
/// per batch): the challenge is its code key and its pending-set entry (no key of its own until
/// it ends, see CHALLENGE); the pending set's size is read once per script run (`known_pending`,
/// kept up to date by each insert's `ZADD`, so the calls of a batch after the first skip the
/// `ZCARD`), and the code is claimed with `SET NX`, which is nearly always free in a sparse
/// code space; only a code already held is read, and taken over if its holder is no longer
/// pending by the caller's clock.
///
/// `ARGV`: prefix, now, max_pending, expires, expected sender, retention (for what an expiry at
/// the bound records), counts hash, then (code, id) pairs. Strings are read as numbers
/// only where a comparison needs it (each `tonumber` is a `strtod`).
pub(super) const INSERT: &str = r"
local p, counts = ARGV[1], ARGV[7]
local max_pending = tonumber(ARGV[3])
local pending = p .. 'pending'
local n = known_pending[pending] or redis.call('ZCARD', pending)
if n >= max_pending then
  local now = tonumber(ARGV[2])
  count(counts, 'expired', expire_due(p, now, tonumber(ARGV[6])))
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
/// `ARGV`: prefix, now, counts hash, retention.
pub(super) const SWEEP: &str = r"
local p, now, counts = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local expired = expire_due(p, now, tonumber(ARGV[4]))
count(counts, 'expired', expired)
counted(counts)
return {expired, live_pending(p, now), redis.call('HGETALL', counts)}
";

/// The code key is taken with `GETDEL`, since nearly every message that finds a challenge
/// ends it (one call fewer than `GET` and `DEL`); a sender mismatch short of the lock puts it
/// back as it was. Its holder decides only if it is still in the pending set, which the `ZREM`
/// that ends it tells (`ZSCORE` on a mismatch short of the lock): a key left by an expiry, or
/// by an earlier version, held nothing, and stays deleted. The end is recorded as `done:{id}`
/// (`finish`), kept `retention` after the challenge's expiry. A sender's failures are counted
/// in `fail:{id}` until the challenge expires (versions with a challenge hash counted them
/// there, and those are not carried over).
///
/// Counts what it decides: a repeat only as a duplicate; anything else by its outcome (`messages`
/// is their sum, see [`super::MESSAGES_ARE`]: one count per message), and as stuffed when `ARGV[9]`
/// says so. `ARGV[10]` is `1` when this call decides the message; `0` when it tries only the
/// candidates of one bucket of several (a cluster, see `receive`): a `no_match` there is not
/// the message's outcome and is not counted. A record `claimed` is a delivery another request
/// is deciding across buckets right now. `ARGV[11]` is the retention, then come the codes.
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
  local pending, retention = p .. 'pending', tonumber(ARGV[11])
  out = 'no_match ' .. (#ARGV - 11)
  for i = 12, #ARGV do
    local code_key = p .. 'code:' .. ARGV[i]
    local held = redis.call('GETDEL', code_key)
    local id, expires, expected
    if held then id, expires, expected = holder(p, held) end
    if id then
      local exp = string.format('%.0f', expires)
      if expires <= now then
        if redis.call('ZREM', pending, id) == 1 then
          finish(p, id, expires, retention, 'expired ' .. exp)
          count(counts, 'expired', 1)
          out, kind = 'expired ' .. id, 'expired_messages'
          break
        end
      elseif expected ~= '' and expected ~= ARGV[5] then
        if redis.call('ZSCORE', pending, id) then
          local fail_key = p .. 'fail:' .. id
          local failures = redis.call('INCR', fail_key)
          local locked = failures >= tonumber(ARGV[6])
          if locked then
            redis.call('ZREM', pending, id)
            redis.call('DEL', fail_key)
            finish(p, id, expires, retention, 'locked ' .. exp)
            count(counts, 'locked', 1)
          else
            if failures == 1 then redis.call('PEXPIREAT', fail_key, exp) end
            redis.call('SET', code_key, held, 'PXAT', exp)
          end
          out, kind = 'sender_mismatch ' .. id .. ' ' .. (locked and 1 or 0), 'sender_mismatches'
          break
        end
      elseif redis.call('ZREM', pending, id) == 1 then
        finish(p, id, expires, retention, 'verified ' .. exp .. ' ' .. ARGV[2] .. ' ' .. ARGV[5])
        out, kind = 'verified ' .. id, 'verifications'
        break
      end
    end
  end
end
if delivery ~= '' then redis.call('SET', dedupe_key, out, 'PX', ARGV[4]) end
if ARGV[10] == '1' or kind ~= 'no_match' then count(counts, kind, 1) end
if ARGV[9] ~= '0' then count(counts, 'stuffed', tonumber(ARGV[9])) end
return {0, out}
";

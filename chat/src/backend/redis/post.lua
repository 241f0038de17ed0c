-- Decides a post: ban, timeout, slow mode, per-user rate, then the message id; in one script so
-- that concurrent nodes cannot both let a user through. `moderation::RoomRules::check_post` is the
-- reference: same checks, same order, same effects.
--
-- KEYS: 1 bans (set), 2 timeout:{user}, 3 slow (seconds), 4 last:{user} (slow-mode slot),
--       5 rate:{user} (token bucket hash), 6 seq (message id counter)
-- ARGV: 1 user id, 2 '1' if the user is the owner, 3 '1' if the user moderates,
--       4 bucket burst, 5 bucket period (ms), 6 room data TTL (s)
-- Returns {status, value, now_ms}: {'ok', id, now} or {refusal, retry_after_ms, now}.
--
-- Time is Redis' clock, so the nodes' clocks do not matter here.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == '0' then
  if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return {'banned', 0, now} end
  local ttl = redis.call('PTTL', KEYS[2])
  if ttl > 0 then return {'timed_out', ttl, now} end
end
local slow = tonumber(redis.call('GET', KEYS[3]) or '0') or 0
local slow_applies = slow > 0 and ARGV[3] == '0'
if slow_applies then
  local ttl = redis.call('PTTL', KEYS[4])
  if ttl > 0 then return {'slow_mode', ttl, now} end
end
local burst = tonumber(ARGV[4])
local period = tonumber(ARGV[5])
local b = redis.call('HMGET', KEYS[5], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * burst / period)
  ts = now
end
if tokens < 1 then
  return {'rate_limited', math.ceil((1 - tokens) * period / burst), now}
end
redis.call('HSET', KEYS[5], 'tokens', tostring(tokens - 1), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[5], period * 2)
if slow_applies then redis.call('SET', KEYS[4], '1', 'PX', slow * 1000) end
local id = redis.call('INCR', KEYS[6])
redis.call('EXPIRE', KEYS[6], ARGV[6])
return {'ok', id, now}

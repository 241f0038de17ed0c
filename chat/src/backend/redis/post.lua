-- Decides a post: ban, timeout, slow mode, per-user rate, then the message id; in one script so
-- that concurrent nodes cannot both let a user through. `moderation::RoomRules::check_post` is the
-- reference: same checks, same order, same effects (chat/tests/scenarios.rs runs every
-- scenario on both backends, so a difference fails there).
--
-- KEYS: 1 bans (set), 2 timeout:{user}, 3 slow (seconds), 4 slow_last (hash user -> unix ms of
--       their last post under slow mode), 5 rate:{user} (token bucket hash), 6 seq (message ids)
-- ARGV: 1 user id, 2 '1' if the user is the owner, 3 '1' if the user moderates,
--       4 bucket burst, 5 bucket period (ms), 6 room data TTL (s), 7 slow_last entries kept
--       before expired ones are dropped
-- Returns {status, value, now_ms, slow_s}: {'ok', id, now, slow} or {refusal, retry_after_ms,
-- now, slow}.
--
-- Slow mode, as in RoomRules: the interval in force now counts from the user's last post (so a
-- changed interval applies at once), and turning slow mode off forgets every last post
-- (`set_slow_mode` deletes slow_last).
--
-- Time is Redis' clock, so the nodes' clocks do not matter here.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == '0' then
  if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return {'banned', 0, now, 0} end
  local ttl = redis.call('PTTL', KEYS[2])
  if ttl > 0 then return {'timed_out', ttl, now, 0} end
end
local slow = tonumber(redis.call('GET', KEYS[3]) or '0') or 0
local slow_applies = slow > 0 and ARGV[3] == '0'
if slow_applies then
  local last = tonumber(redis.call('HGET', KEYS[4], ARGV[1]) or '')
  if last and last + slow * 1000 > now then return {'slow_mode', last + slow * 1000 - now, now, slow} end
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
  return {'rate_limited', math.ceil((1 - tokens) * period / burst), now, slow}
end
redis.call('HSET', KEYS[5], 'tokens', tostring(tokens - 1), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[5], period * 2)
if slow_applies then
  if redis.call('HLEN', KEYS[4]) >= tonumber(ARGV[7]) then
    local all = redis.call('HGETALL', KEYS[4])
    for i = 1, #all, 2 do
      if tonumber(all[i + 1]) + slow * 1000 <= now then redis.call('HDEL', KEYS[4], all[i]) end
    end
  end
  redis.call('HSET', KEYS[4], ARGV[1], now)
  redis.call('EXPIRE', KEYS[4], ARGV[6])
end
local id = redis.call('INCR', KEYS[6])
redis.call('EXPIRE', KEYS[6], ARGV[6])
return {'ok', id, now, slow}

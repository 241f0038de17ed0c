-- Drops expired presence, raises the peak, returns {current, peak}.
--
-- KEYS: 1 presence (sorted set: viewer key -> expiry, unix ms), 2 peak
-- ARGV: 1 now (unix ms), 2 peak TTL (s)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local c = redis.call('ZCARD', KEYS[1])
local p = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
if c > p then
  p = c
  redis.call('SET', KEYS[2], p)
end
redis.call('EXPIRE', KEYS[2], ARGV[2])
return {c, p}

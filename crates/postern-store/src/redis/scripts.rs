//! Operations that must be atomic on the server, as Lua scripts. Each touches exactly one key,
//! so each runs on one cluster slot.

use std::sync::LazyLock;

use redis::Script;

/// INCR and, on a new counter, start its window: `{count, ms until the window ends}`.
pub static COUNT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local count = redis.call('INCR', KEYS[1])
        local ttl = redis.call('PTTL', KEYS[1])
        if ttl < 0 then
            redis.call('PEXPIRE', KEYS[1], ARGV[1])
            ttl = tonumber(ARGV[1])
        end
        return {count, ttl}
        ",
    )
});

/// DECR a live counter, never below zero; DECR keeps its TTL (the window). A missing key (the
/// window ended) stays missing. Returns the count left.
pub static FORGIVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local count = tonumber(redis.call('GET', KEYS[1]))
        if count == nil or count <= 0 then
            return 0
        end
        return redis.call('DECR', KEYS[1])
        ",
    )
});

/// A token bucket on the server's clock: refill at ARGV[1] tokens/s up to ARGV[2], take one.
/// Returns 0 when a token was taken, else the ms until one will be there.
pub static TAKE_TOKEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local rate = tonumber(ARGV[1])
        local burst = tonumber(ARGV[2])
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
        local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
        local tokens = tonumber(state[1])
        local at = tonumber(state[2])
        if tokens == nil or at == nil then
            tokens = burst
            at = now
        end
        tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
        local wait = 0
        if tokens >= 1 then
            tokens = tokens - 1
        else
            wait = math.ceil((1 - tokens) / rate * 1000)
        end
        redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
        redis.call('PEXPIRE', KEYS[1], math.max(1000, math.ceil(burst / rate * 1000)))
        return wait
        ",
    )
});

/// Adds session hash ARGV[1] to a user's index, scored by its expiry in unix ms (now plus
/// ARGV[2], the session's TTL in ms), drops members that expired, and keeps the index as long
/// as its longest-lived member. With ARGV[3] = 'XX' it only moves a member that is there (a
/// replace-if-present adds none for a deleted session). "Now" is Redis's clock, as for the
/// session's own TTL and the index's `PEXPIREAT`: with postern's, a replica whose clock is off
/// by a few seconds would drop, or let expire, entries of sessions that still live.
pub static INDEX_SESSION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
        local expires = now + tonumber(ARGV[2])
        if ARGV[3] == 'XX' then
            redis.call('ZADD', KEYS[1], 'XX', expires, ARGV[1])
        else
            redis.call('ZADD', KEYS[1], expires, ARGV[1])
        end
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
        if last[2] then
            redis.call('PEXPIREAT', KEYS[1], last[2])
        end
        return 1
        ",
    )
});

/// The members of a user's index whose sessions have not expired, by Redis's clock (see
/// `INDEX_SESSION`).
pub static LIVE_SESSIONS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
        return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
        ",
    )
});

/// DEL the key only while it holds ARGV[1] (an owned lock's token): compare and delete in one
/// step, so no other holder's value is deleted between the read and the delete. Returns 1 when
/// deleted.
pub static TAKE_IF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('DEL', KEYS[1])
        end
        return 0
        ",
    )
});

package redis

import (
	"cmp"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store"
)

// Option configures the Redis stores. Options are sealed.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	prefix   string
	cacheTTL time.Duration
}

// WithKeyPrefix sets the prefix of every key (default "authv2:").
func WithKeyPrefix(p string) Option { return optionFunc(func(c *config) { c.prefix = p }) }

// WithClientSideCache serves session reads from rueidis's client-side
// cache for up to ttl, with server-assisted invalidation: a write on any
// instance (revoke, touch) makes Redis push an invalidation to every
// instance that cached the session. The push is asynchronous, so a revoke
// is not strict: another instance may accept the revoked session until
// its invalidation arrives. Measured by TestClientSideCacheStaleness
// (1,000 trials, two clients, local Redis and Cluster on a loaded 2-core
// VM): the first read after Revoke returned was stale in 0.3–58% of
// trials; the staleness was p99 0.1–180 ms, max 4–220 ms, the high ends
// while the machine was overloaded. Should an invalidation
// be lost with its connection, ttl caps the staleness. Off by default;
// the client must have been built with caching enabled (RESP3, the
// default).
func WithClientSideCache(ttl time.Duration) Option {
	return optionFunc(func(c *config) { c.cacheTTL = ttl })
}

func newConfig(opts []Option) config {
	c := config{prefix: "authv2:"}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// SessionStore is a session.Store on Redis.
type SessionStore struct {
	c   rueidis.Client
	cfg config
}

var _ session.Store = (*SessionStore)(nil)

// NewSessionStore returns a session store on client.
func NewSessionStore(client rueidis.Client, opts ...Option) *SessionStore {
	return &SessionStore{c: client, cfg: newConfig(opts)}
}

// ErrUnsafeEviction is Check's verdict on a server whose maxmemory-policy
// may evict keys without a TTL: a user's session index could then go
// before the sessions it lists, and signing the user out everywhere would
// miss them.
var ErrUnsafeEviction = errors.New("authv2/redis: maxmemory-policy may evict session indexes (use noeviction or a volatile-* policy)")

// Check reports ErrUnsafeEviction (wrapped, naming the node and policy)
// when a node of the client runs an allkeys-* maxmemory-policy. The store
// keeps every key it may lose to eviction under a TTL and the per-user
// indexes without one, so noeviction and the volatile-* policies are
// safe. A node that refuses CONFIG GET (managed Redis often does) cannot
// be checked and is skipped: Check then returns nil. Call it once at
// start-up.
func (s *SessionStore) Check(ctx context.Context) error {
	for addr, node := range s.c.Nodes() {
		kv, err := node.Do(ctx, node.B().ConfigGet().Parameter("maxmemory-policy").Build()).AsStrMap()
		if _, refused := rueidis.IsRedisErr(err); refused {
			continue
		}
		if err != nil {
			return translate("session.check", err)
		}
		if p := kv["maxmemory-policy"]; strings.HasPrefix(p, "allkeys-") {
			return fmt.Errorf("%w: %s runs %s", ErrUnsafeEviction, addr, p)
		}
	}
	return nil
}

func (s *SessionStore) sessionKey(id string) string {
	return s.cfg.prefix + "{" + session.TagOf(id) + "}:s:" + id
}

func (s *SessionStore) userKey(userID string) string {
	return s.cfg.prefix + "{" + session.UserTag(userID) + "}:u:" + userID
}

// expiryShards is how many sorted sets the expiry index is split into,
// each its own hash tag, so a cluster spreads the index's writes (one per
// Create) over several nodes instead of one.
const expiryShards = 16

// expiryKey is the index shard of a session: chosen by its user's tag
// (FNV-1a, the same in every process), so one user's sessions share one.
func (s *SessionStore) expiryKey(id string) string {
	return s.expiryShard(expiryShardOf(session.TagOf(id)))
}

func (s *SessionStore) expiryShard(i int) string {
	return s.cfg.prefix + "{expiry:" + strconv.Itoa(i) + "}"
}

func expiryShardOf(tag string) int {
	h := uint32(2166136261)
	for i := range len(tag) {
		h = (h ^ uint32(tag[i])) * 16777619
	}
	return int(h % expiryShards)
}

// expiryShardsFor lists the shards that can hold a user's sessions: the
// user's own, or every shard when userID is empty.
func (s *SessionStore) expiryShardsFor(userID string) []string {
	if userID != "" {
		return []string{s.expiryShard(expiryShardOf(session.UserTag(userID)))}
	}
	keys := make([]string, expiryShards)
	for i := range keys {
		keys[i] = s.expiryShard(i)
	}
	return keys
}

// expiryMember names a session in the expiry index: its ID and its user's
// ID, so that DeleteExpired can drop it from the user's index after Redis
// has expired the session itself. Session IDs are base64url: a space
// cannot occur in one. Members of earlier builds are the bare ID.
func expiryMember(id, userID string) string { return id + " " + userID }

// splitExpiryMember returns the session ID and user ID of a member; the
// user is "" in a member of an earlier build.
func splitExpiryMember(m string) (id, userID string) {
	id, userID, _ = strings.Cut(m, " ")
	return id, userID
}

// Times travel as Unix microseconds, the precision every store keeps.
func micros(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

func fromMicros(v string) time.Time {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

// A session is one hash. Its scripts read and write single fields, while
// Get, the hot path, reads two packed blobs and the four fields that
// change: a reply costs in proportion to its number of fields (HMGET of
// 16 fields measured 1.15× a bare GET, of one field 1.01×).
//
//	d                packed: ID, secret hash, user, created, absolute expiry,
//	                 security stamp, then the attributes as key, value pairs
//	                 (never change; version 1 lacks the stamp, version 2 the
//	                 attributes; version 5, an impersonation session's, has
//	                 the impersonator's user, session and record IDs after
//	                 the stamp)
//	m                packed: tenant, scope, authenticated at, auth level, IP, user agent,
//	                 device label, then the proofs as factor, at, credential ID,
//	                 user verified ("1" or "") quadruples (Update rewrites it whole;
//	                 version 1 lacks the proofs)
//	ls, ie, ra, rr   last seen, idle expiry, revoked at, revoke reason (scripts change them)
//	rb               the successor's ID, written by Rotate with rr "rotated"; read
//	                 only then, so Get's HMGET stays at six fields
//	id, u, t, c, ae  copies for the scripts to read
var getFields = []string{"d", "m", "ls", "ie", "ra", "rr"}

// fields returns the HSET arguments of a new session: name, value, ...
func fields(x *session.Session) []string {
	return append([]string{
		"d", packStatic(x),
		"ls", micros(x.LastSeenAt), "ie", micros(x.IdleExpiresAt), "ra", micros(x.RevokedAt), "rr", x.RevokeReason,
		"id", x.ID, "u", x.UserID, "c", micros(x.CreatedAt), "ae", micros(x.AbsoluteExpiresAt),
	}, updateFields(x)...)
}

// updateFields returns the HSET arguments Update writes.
func updateFields(x *session.Session) []string {
	return []string{"m", packMutable(x), "t", x.TenantID}
}

// packMutable packs "m". A session without proofs is written in version
// 1, which builds from before proofs can still read.
func packMutable(x *session.Session) string {
	vals := []string{x.TenantID, x.Scope, micros(x.AuthenticatedAt), strconv.Itoa(x.AuthLevel),
		x.Client.IP, x.Client.UserAgent, x.Client.DeviceLabel}
	if len(x.Proofs) == 0 {
		return pack(packFirst, vals...)
	}
	for _, p := range x.Proofs {
		uv := ""
		if p.UserVerified {
			uv = "1"
		}
		vals = append(vals, string(p.Factor), micros(p.At), p.CredentialID, uv)
	}
	return pack(packProofs, vals...)
}

// A version byte leads every packed blob, so a blob's layout can grow
// while records written in the older one stay readable.
const (
	packFirst        = 1 // "m"; "d" of records written before the security stamp
	packStamped      = 2 // "d" with the security stamp appended
	packAttributed   = 3 // "d" with the stamp and the attribute pairs appended
	packProofs       = 4 // "m" with the proofs appended
	packImpersonated = 5 // "d" with the stamp, the impersonator and the attribute pairs
)

// packStatic packs "d". A session without attributes is written in
// version 2, which builds from before attributes can still read: only
// sessions that carry attributes need this build or later.
func packStatic(x *session.Session) string {
	vals := []string{x.ID, string(x.SecretHash), x.UserID, micros(x.CreatedAt), micros(x.AbsoluteExpiresAt), x.SecurityStamp}
	version := byte(packAttributed)
	if imp := x.Impersonator; imp != nil {
		// Only impersonation sessions need this build or later.
		version = packImpersonated
		vals = append(vals, imp.UserID, imp.SessionID, imp.ImpersonationID)
	} else if len(x.Attributes) == 0 {
		return pack(packStamped, vals...)
	}
	// Sorted, so one session always packs to the same bytes.
	for _, k := range slices.Sorted(maps.Keys(x.Attributes)) {
		vals = append(vals, k, x.Attributes[k])
	}
	return pack(version, vals...)
}

// pack joins values behind the version byte, each prefixed by its length
// (uvarint): no value can be mistaken for a separator.
func pack(version byte, vals ...string) string {
	n := 1
	for _, v := range vals {
		n += binary.MaxVarintLen64 + len(v)
	}
	b := append(make([]byte, 0, n), version)
	for _, v := range vals {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return string(b)
}

var errCorrupt = errors.New("authv2/redis: stored session is corrupt")

// unpack splits a blob made by pack with version into exactly len(dst)
// values.
func unpack(s string, version byte, dst []string) error {
	if len(s) == 0 || s[0] != version {
		return errCorrupt
	}
	rest, err := unpackValues(s[1:], dst)
	if err != nil || len(rest) != 0 {
		return errCorrupt
	}
	return nil
}

// unpackValues reads len(dst) values from the front of s and returns what
// follows them.
func unpackValues(s string, dst []string) (rest string, err error) {
	for i := range dst {
		n, w := uvarint(s)
		if w <= 0 || n > uint64(len(s)-w) {
			return "", errCorrupt
		}
		dst[i], s = s[w:w+int(n)], s[w+int(n):]
	}
	return s, nil
}

// uvarint is binary.Uvarint over a string, without converting it.
func uvarint(s string) (uint64, int) {
	var x uint64
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			return x | uint64(c)<<(7*i), i + 1
		}
		x |= uint64(c&0x7f) << (7 * i)
	}
	return 0, 0
}

// parse reads a session from an HMGET of getFields. It returns
// store.ErrNotFound when there is none (a missing hash answers every
// field with nil).
func parse(v []string) (*session.Session, error) {
	if len(v) != len(getFields) || v[0] == "" {
		return nil, store.ErrNotFound
	}
	var d [6]string
	var m [7]string
	attrs, imp, err := unpackStatic(v[0], &d)
	if err != nil {
		return nil, err
	}
	proofs, err := unpackMutable(v[1], &m)
	if err != nil {
		return nil, err
	}
	al, _ := strconv.Atoi(m[3])
	return &session.Session{
		ID: d[0], SecretHash: []byte(d[1]), UserID: d[2], CreatedAt: fromMicros(d[3]), AbsoluteExpiresAt: fromMicros(d[4]),
		SecurityStamp: d[5], Attributes: attrs, Impersonator: imp,
		TenantID: m[0], Scope: m[1], AuthenticatedAt: fromMicros(m[2]), AuthLevel: al, Proofs: proofs,
		Client:     session.ClientInfo{IP: m[4], UserAgent: m[5], DeviceLabel: m[6]},
		LastSeenAt: fromMicros(v[2]), IdleExpiresAt: fromMicros(v[3]), RevokedAt: fromMicros(v[4]), RevokeReason: v[5],
	}, nil
}

// unpackMutable reads "m" in either layout, and the proofs, nil when
// there are none.
func unpackMutable(s string, m *[7]string) (mfa.Proofs, error) {
	if s == "" || s[0] != packProofs {
		return nil, unpack(s, packFirst, m[:])
	}
	rest, err := unpackValues(s[1:], m[:])
	if err != nil {
		return nil, err
	}
	var ps mfa.Proofs
	var q [4]string
	for rest != "" {
		if rest, err = unpackValues(rest, q[:]); err != nil {
			return nil, err
		}
		ps = append(ps, mfa.Proof{Factor: mfa.Factor(q[0]), At: fromMicros(q[1]), CredentialID: q[2], UserVerified: q[3] == "1"})
	}
	if len(ps) == 0 {
		return nil, errCorrupt
	}
	return ps, nil
}

// unpackStatic reads "d" in any layout, the attributes, nil when there
// are none, and the impersonator, nil on a user's own session: one
// written before sessions carried a security stamp reads as stamp "", one
// written before they carried attributes as none.
func unpackStatic(s string, d *[6]string) (map[string]string, *session.Impersonator, error) {
	if s == "" || (s[0] != packAttributed && s[0] != packImpersonated) {
		if s != "" && s[0] == packFirst {
			return nil, nil, unpack(s, packFirst, d[:5])
		}
		return nil, nil, unpack(s, packStamped, d[:])
	}
	rest, err := unpackValues(s[1:], d[:])
	if err != nil {
		return nil, nil, err
	}
	var imp *session.Impersonator
	if s[0] == packImpersonated {
		var iv [3]string
		if rest, err = unpackValues(rest, iv[:]); err != nil {
			return nil, nil, err
		}
		imp = &session.Impersonator{UserID: iv[0], SessionID: iv[1], ImpersonationID: iv[2]}
	}
	if rest == "" && imp != nil {
		return nil, imp, nil
	}
	attrs := map[string]string{}
	var kv [2]string
	for rest != "" {
		if rest, err = unpackValues(rest, kv[:]); err != nil {
			return nil, nil, err
		}
		if _, dup := attrs[kv[0]]; dup {
			return nil, nil, errCorrupt // packStatic writes each key once
		}
		attrs[kv[0]] = kv[1]
	}
	return attrs, imp, nil
}

// pexpireAt is the key's deadline in Unix milliseconds, at least now+1ms
// so Redis never drops a key it was just asked to keep.
func pexpireAt(t time.Time) string {
	return strconv.FormatInt(max(t.UnixMilli(), time.Now().UnixMilli()+1), 10)
}

// translate maps rueidis errors to store sentinels.
func translate(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case rueidis.IsRedisNil(err):
		return store.ErrNotFound
	case errors.Is(err, context.Canceled):
		return err
	}
	return store.Unavailable(op, err)
}

// Script replies are short status words rather than Redis errors, so no
// error text has to be parsed.
const (
	replyOK       = "OK"
	replyNotFound = "NOTFOUND"
	replyConflict = "CONFLICT"
	replyLimit    = "LIMIT"
)

func statusError(reply string) error {
	switch reply {
	case replyNotFound:
		return store.ErrNotFound
	case replyConflict:
		return store.ErrConflict
	case replyLimit:
		return store.ErrLimit
	}
	return nil
}

// luaLive is shared by the scripts: whether the session hash at key is
// live at now (micros), and its sort key for eviction.
const luaLive = `
local function live(key, now)
  local f = redis.call('HMGET', key, 'ra', 'ie', 'ae', 'c', 'ls')
  if not f[1] then return false end
  if f[1] ~= '0' then return false end
  local exp = math.min(tonumber(f[2]), tonumber(f[3]))
  if exp <= now then return false end
  return true, tonumber(f[4]), tonumber(f[5])
end
-- ended: the session is gone (Redis expired it) or revoked. Only an ended
-- session may leave the user's index: one merely past its deadline by this
-- caller's clock may be live by another instance's, which lags, and
-- RevokeUser must still reach it.
local function ended(key)
  local ra = redis.call('HGET', key, 'ra')
  return (not ra) or ra ~= '0'
end
local function skey(prefix, tag, id) return prefix .. '{' .. tag .. '}:s:' .. id end
-- trim drops up to three of the index's oldest members whose key Redis
-- already expired: called with each write, it cleans more than is added
-- when there is dead weight, without a full pass over the index.
local function trim(index, prefix, tag)
  for _, id in ipairs(redis.call('ZRANGE', index, 0, 2)) do
    if redis.call('EXISTS', skey(prefix, tag, id)) == 0 then redis.call('ZREM', index, id) end
  end
end
`

// indexLifetime: the user index has no TTL. A TTL would have to outlast
// every session it lists, and a session's deadline moves with every Touch
// (a TTL set from the first idle deadline let a session kept alive by use
// drop out of the index: unlisted, uncounted by the limit and out of
// RevokeUser's reach). A key without a TTL is also never chosen by the
// volatile-* eviction policies, which evict sessions (a sign-out) but
// never the index that revocation needs. The index is kept small instead
// by the scripts, which drop dead members they meet, and by DeleteExpired,
// which drops each expired session from its user's index; an emptied
// sorted set is deleted by Redis itself. Create and Rotate PERSIST the
// index, so keys written with a TTL by earlier builds lose it.

// createScript: KEYS session, user index; ARGV now, limit, policy, pexpireat,
// prefix, tag, created-score, revoke-at, then the field pairs.
const createSrc = luaLive + `
if redis.call('EXISTS', KEYS[1]) == 1 then return {'CONFLICT'} end
local now, limit, policy = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local evicted = {}
if limit > 0 then
  local ids = redis.call('ZRANGE', KEYS[2], 0, -1)
  local alive = {}
  for _, id in ipairs(ids) do
    local key = skey(ARGV[5], ARGV[6], id)
    local ok, created, seen = live(key, now)
    if ok then
      table.insert(alive, {id = id, created = created, seen = seen})
    elseif ended(key) then
      -- Ended sessions leave the user's index (they stay readable by ID
      -- until their TTL), so this loop costs what the user's unended
      -- sessions cost.
      redis.call('ZREM', KEYS[2], id)
    end
  end
  local excess = #alive - limit + 1
  if excess > 0 then
    if policy == 2 then return {'LIMIT'} end
    table.sort(alive, function(a, b)
      local ka, kb = a.created, b.created
      if policy == 1 then ka, kb = a.seen, b.seen end
      if ka == kb then return a.id < b.id end
      return ka < kb
    end)
    for i = 1, excess do
      redis.call('HSET', skey(ARGV[5], ARGV[6], alive[i].id), 'ra', ARGV[8], 'rr', 'evicted')
      redis.call('ZREM', KEYS[2], alive[i].id)
      table.insert(evicted, alive[i].id)
    end
  end
end
if limit <= 0 then
  -- No limit, so no full pass over the index: the index of a user who
  -- never lists stays near their live sessions.
  trim(KEYS[2], ARGV[5], ARGV[6])
end
local kv = {}
for i = 9, #ARGV do table.insert(kv, ARGV[i]) end
redis.call('HSET', KEYS[1], unpack(kv))
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[7], redis.call('HGET', KEYS[1], 'id'))
redis.call('PERSIST', KEYS[2]) -- the index outlives its sessions; see indexLifetime
table.insert(evicted, 1, 'OK')
return evicted
`

var (
	createScript = rueidis.NewLuaScript(createSrc)
	createSHA    = sha1Hex(createSrc)
)

// Create implements session.Store in one round trip: the script and the
// add to the expiry index (another slot) go out together. The index entry
// is written even when the script refuses; it is a hint that
// DeleteExpired checks, and ZADD LT keeps it at or before the session's
// real deadline should the ID already exist.
func (s *SessionStore) Create(ctx context.Context, x *session.Session, limit session.Limit, now time.Time) ([]string, error) {
	keys := []string{s.sessionKey(x.ID), s.userKey(x.UserID)}
	args := append([]string{micros(now), strconv.Itoa(limit.Max), strconv.Itoa(int(limit.Policy)), pexpireAt(x.ExpiresAt()),
		s.cfg.prefix, session.UserTag(x.UserID), micros(x.CreatedAt), micros(now)}, fields(x)...)
	res := s.c.DoMulti(ctx,
		s.c.B().Evalsha().Sha1(createSHA).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build(),
		s.c.B().Zadd().Key(s.expiryKey(x.ID)).Lt().ScoreMember().ScoreMember(float64(x.ExpiresAt().UnixMicro()), expiryMember(x.ID, x.UserID)).Build())
	script := res[0]
	if e, ok := rueidis.IsRedisErr(script.Error()); ok && e.IsNoScript() {
		script = createScript.Exec(ctx, s.c, keys, args) // first use on this node: loads the script
	}
	reply, err := script.AsStrSlice()
	if err != nil {
		return nil, translate("session.create", err)
	}
	if len(reply) == 0 {
		return nil, store.Unavailable("session.create", errors.New("empty script reply"))
	}
	if err := statusError(reply[0]); err != nil {
		return nil, err
	}
	return reply[1:], nil
}

// sha1Hex is how Redis names a script (EVALSHA); not a security use.
func sha1Hex(src string) string {
	sum := sha1.Sum([]byte(src))
	return hex.EncodeToString(sum[:])
}

// indexExpiry records a session's expiry for DeleteExpired and Stats. It
// is best effort: TTLs are what actually expire sessions.
func (s *SessionStore) indexExpiry(ctx context.Context, member string, at time.Time) {
	id, _ := splitExpiryMember(member)
	_ = s.c.Do(ctx, s.c.B().Zadd().Key(s.expiryKey(id)).ScoreMember().ScoreMember(float64(at.UnixMicro()), member).Build()).Error()
}

// unindexExpiry drops a member from the expiry index, best effort.
func (s *SessionStore) unindexExpiry(ctx context.Context, member string) {
	id, _ := splitExpiryMember(member)
	_ = s.c.Do(ctx, s.c.B().Zrem().Key(s.expiryKey(id)).Member(member).Build()).Error()
}

// Get implements session.Store: one HMGET, or a client-side cache hit.
func (s *SessionStore) Get(ctx context.Context, id string) (*session.Session, error) {
	var res rueidis.RedisResult
	if s.cfg.cacheTTL > 0 {
		res = s.c.DoCache(ctx, s.c.B().Hmget().Key(s.sessionKey(id)).Field(getFields...).Cache(), s.cfg.cacheTTL)
	} else {
		res = s.c.Do(ctx, s.c.B().Hmget().Key(s.sessionKey(id)).Field(getFields...).Build())
	}
	v, err := res.AsStrSlice()
	if err != nil {
		return nil, translate("session.get", err)
	}
	x, err := s.parse("session.get", v)
	if err != nil || x.RevokeReason != session.ReasonRotated {
		return x, err
	}
	if err := s.readSuccessor(ctx, x); err != nil {
		return nil, err
	}
	return x, nil
}

// readSuccessor fills in ReplacedBy of a rotated-away session: a second
// read, paid only by a token presented after its rotation. Rotate writes
// "rb" with the revocation and a revoked session never changes again, so
// the two reads agree. A nil (rotated by an older build, or the key
// expired in between) leaves ReplacedBy empty: the session is still
// revoked.
func (s *SessionStore) readSuccessor(ctx context.Context, x *session.Session) error {
	var res rueidis.RedisResult
	if s.cfg.cacheTTL > 0 {
		res = s.c.DoCache(ctx, s.c.B().Hget().Key(s.sessionKey(x.ID)).Field("rb").Cache(), s.cfg.cacheTTL)
	} else {
		res = s.c.Do(ctx, s.c.B().Hget().Key(s.sessionKey(x.ID)).Field("rb").Build())
	}
	rb, err := res.ToString()
	if err != nil && !rueidis.IsRedisNil(err) {
		return translate("session.get", err)
	}
	x.ReplacedBy = rb
	return nil
}

// parse is parse with a corrupt record reported as the store failing:
// callers fail closed on it, and it names the operation.
func (s *SessionStore) parse(op string, v []string) (*session.Session, error) {
	x, err := parse(v)
	if errors.Is(err, errCorrupt) {
		return nil, store.Unavailable(op, err)
	}
	return x, err
}

// touchScript: KEYS session; ARGV last-seen, idle-expiry (micros), the
// earliest deadline Redis may be given (Unix ms). The key's new deadline is
// the earlier of the new idle expiry and the stored absolute one, worked out
// here so that Touch is one round trip.
// touchScript: KEYS session; ARGV last seen, idle expiry, floor (ms),
// prefix, tag. It also PERSISTs the user's index (same slot: the tag), so
// an index an earlier build gave a TTL cannot expire under a session kept
// alive only by use.
var touchScript = rueidis.NewLuaScript(`
local f = redis.call('HMGET', KEYS[1], 'ra', 'ae', 'u', 'ie')
if not f[1] or f[1] ~= '0' then return 'NOTFOUND' end
-- An expiry is final: no touch renews a session past its deadline.
if math.min(tonumber(f[2]), tonumber(f[4])) <= tonumber(ARGV[1]) then return 'NOTFOUND' end
redis.call('HSET', KEYS[1], 'ls', ARGV[1], 'ie', ARGV[2])
local exp = math.floor(math.min(tonumber(ARGV[2]), tonumber(f[2])) / 1000)
redis.call('PEXPIREAT', KEYS[1], math.max(exp, tonumber(ARGV[3])))
if f[3] then redis.call('PERSIST', ARGV[4] .. '{' .. ARGV[5] .. '}:u:' .. f[3]) end
return 'OK'
`)

// Touch implements session.Store in one round trip. The expiry index is
// not moved: DeleteExpired re-reads the session before it deletes, and
// re-indexes one that was touched since.
func (s *SessionStore) Touch(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	floor := strconv.FormatInt(time.Now().UnixMilli()+1, 10)
	reply, err := touchScript.Exec(ctx, s.c, []string{s.sessionKey(id)},
		[]string{micros(lastSeen), micros(idleExpires), floor, s.cfg.prefix, session.TagOf(id)}).ToString()
	if err != nil {
		return translate("session.touch", err)
	}
	return statusError(reply)
}

// updateScript: KEYS session; ARGV field pairs.
var updateScript = rueidis.NewLuaScript(`
local ra = redis.call('HGET', KEYS[1], 'ra')
if not ra or ra ~= '0' then return 'NOTFOUND' end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 'OK'
`)

// Update implements session.Store.
func (s *SessionStore) Update(ctx context.Context, x *session.Session) error {
	reply, err := updateScript.Exec(ctx, s.c, []string{s.sessionKey(x.ID)}, updateFields(x)).ToString()
	if err != nil {
		return translate("session.update", err)
	}
	return statusError(reply)
}

// revokeScript: KEYS session; ARGV at, reason.
var revokeScript = rueidis.NewLuaScript(`
local ra = redis.call('HGET', KEYS[1], 'ra')
if not ra then return 'NOTFOUND' end
if ra == '0' then redis.call('HSET', KEYS[1], 'ra', ARGV[1], 'rr', ARGV[2]) end
return 'OK'
`)

// Revoke implements session.Store.
func (s *SessionStore) Revoke(ctx context.Context, id string, at time.Time, reason string) error {
	reply, err := revokeScript.Exec(ctx, s.c, []string{s.sessionKey(id)}, []string{micros(at), reason}).ToString()
	if err != nil {
		return translate("session.revoke", err)
	}
	return statusError(reply)
}

// revokeUserScript: KEYS user index; ARGV now, reason, except, tenant, prefix, tag.
var revokeUserScript = rueidis.NewLuaScript(luaLive + `
local now = tonumber(ARGV[1])
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = skey(ARGV[5], ARGV[6], id)
  if ended(key) then
    redis.call('ZREM', KEYS[1], id)
  elseif id ~= ARGV[3] and (ARGV[4] == '' or redis.call('HGET', key, 't') == ARGV[4]) then
    -- Expired by this caller's clock or not: another's may lag.
    redis.call('HSET', key, 'ra', ARGV[1], 'rr', ARGV[2])
    redis.call('ZREM', KEYS[1], id)
    table.insert(out, id)
  end
end
return out
`)

// RevokeUser implements session.Store in one round trip, whatever the
// number of sessions.
func (s *SessionStore) RevokeUser(ctx context.Context, userID string, f session.RevokeFilter, at time.Time, reason string) ([]string, error) {
	ids, err := revokeUserScript.Exec(ctx, s.c, []string{s.userKey(userID)},
		[]string{micros(at), reason, f.ExceptID, f.TenantID, s.cfg.prefix, session.UserTag(userID)}).AsStrSlice()
	if err != nil {
		return nil, translate("session.revoke_user", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// rotateScript: KEYS old, new, index; ARGV now, pexpireat(new), user, created-score, then new field pairs.
var rotateScript = rueidis.NewLuaScript(luaLive + `
local now = tonumber(ARGV[1])
if not live(KEYS[1], now) or redis.call('HGET', KEYS[1], 'u') ~= ARGV[3] then return 'NOTFOUND' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'CONFLICT' end
local kv = {}
for i = 5, #ARGV do table.insert(kv, ARGV[i]) end
redis.call('HSET', KEYS[2], unpack(kv))
redis.call('PEXPIREAT', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[4], redis.call('HGET', KEYS[2], 'id'))
redis.call('PERSIST', KEYS[3])
redis.call('HSET', KEYS[1], 'ra', ARGV[1], 'rr', 'rotated', 'rb', redis.call('HGET', KEYS[2], 'id'))
redis.call('ZREM', KEYS[3], redis.call('HGET', KEYS[1], 'id'))
return 'OK'
`)

// Rotate implements session.Store.
func (s *SessionStore) Rotate(ctx context.Context, oldID string, next *session.Session, now time.Time) error {
	if session.TagOf(oldID) != session.UserTag(next.UserID) {
		return store.ErrNotFound // another user's session: not in this user's slot
	}
	args := append([]string{micros(now), pexpireAt(next.ExpiresAt()), next.UserID, micros(next.CreatedAt)}, fields(next)...)
	reply, err := rotateScript.Exec(ctx, s.c, []string{s.sessionKey(oldID), s.sessionKey(next.ID), s.userKey(next.UserID)}, args).ToString()
	if err != nil {
		return translate("session.rotate", err)
	}
	if err := statusError(reply); err != nil {
		return err
	}
	s.indexExpiry(ctx, expiryMember(next.ID, next.UserID), next.ExpiresAt())
	return nil
}

// listScript: KEYS user index; ARGV prefix, tag, then getFields. Returns
// each stored session as Get reads it, pruning the index of sessions
// Redis no longer has. A session without the packed fields (written in
// an older layout) stays in the index, so RevokeUser still reaches it.
var listScript = rueidis.NewLuaScript(luaLive + `
local out = {}
local names = {}
for i = 3, #ARGV do table.insert(names, ARGV[i]) end
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = skey(ARGV[1], ARGV[2], id)
  local h = redis.call('HMGET', key, unpack(names))
  if h[1] then
    table.insert(out, h)
  elseif redis.call('EXISTS', key) == 0 then
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
`)

func (s *SessionStore) userSessions(ctx context.Context, userID string) ([]*session.Session, error) {
	args := append([]string{s.cfg.prefix, session.UserTag(userID)}, getFields...)
	msgs, err := listScript.Exec(ctx, s.c, []string{s.userKey(userID)}, args).ToArray()
	if err != nil {
		return nil, translate("session.list", err)
	}
	out := make([]*session.Session, 0, len(msgs))
	for _, msg := range msgs {
		v, err := msg.AsStrSlice()
		if err != nil {
			return nil, translate("session.list", err)
		}
		x, err := s.parse("session.list", v)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// ListByUser implements session.Store from the per-user index, in one
// round trip.
func (s *SessionStore) ListByUser(ctx context.Context, userID string, now time.Time) ([]*session.Session, error) {
	all, err := s.userSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	live := slices.DeleteFunc(all, func(x *session.Session) bool { return !x.Live(now) })
	slices.SortFunc(live, func(a, b *session.Session) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return live, nil
}

// deleteScript: KEYS session; ARGV before (micros), id, prefix, tag, user
// (from the expiry index member, "" in members of earlier builds). Deletes
// the session when its deadline is before `before` and drops it from its
// user's index, also when Redis already expired it: the index has no TTL
// (see indexLifetime). The user index key is built here, in the session's
// slot, from the stored user or the member's. Replies GONE (no session),
// DELETED, or KEPT and the deadline a Touch moved it to.
var deleteScript = rueidis.NewLuaScript(luaLive + `
local f = redis.call('HMGET', KEYS[1], 'ie', 'ae', 'u')
local user = f[3] or ARGV[5]
local index = ARGV[3] .. '{' .. ARGV[4] .. '}:u:' .. user
if not f[1] then
  if user ~= '' then
    redis.call('ZREM', index, ARGV[2])
    trim(index, ARGV[3], ARGV[4]) -- members of earlier builds' sessions, not findable by user
  end
  return {'GONE'}
end
local ie, ae = tonumber(f[1]), tonumber(f[2])
if math.min(ie, ae) < tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', index, ARGV[2])
  trim(index, ARGV[3], ARGV[4])
  return {'DELETED'}
end
if ie < ae then return {'KEPT', f[1]} end
return {'KEPT', f[2]}
`)

// DeleteExpired implements session.Store from the expiry index: sessions
// whose deadline is before `before`, not a scan. Redis TTLs remove most of
// them on their own; this also forgets the ones a caller's clock says are
// over, and drops each from its user's index, which has no TTL.
func (s *SessionStore) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	shards := s.expiryShardsFor("")
	cmds := make(rueidis.Commands, len(shards))
	for i, k := range shards {
		cmds[i] = s.c.B().Zrangebyscore().Key(k).Min("-inf").Max("("+micros(before)).Limit(0, maxExpiredPerCall/expiryShards).Build()
	}
	members, err := s.indexMembers(ctx, "session.delete_expired", cmds)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, member := range members {
		id, userID := splitExpiryMember(member)
		reply, err := deleteScript.Exec(ctx, s.c, []string{s.sessionKey(id)},
			[]string{micros(before), id, s.cfg.prefix, session.TagOf(id), userID}).AsStrSlice()
		if err != nil {
			return n, translate("session.delete_expired", err)
		}
		if len(reply) == 2 && reply[0] == "KEPT" {
			s.indexExpiry(ctx, member, fromMicros(reply[1])) // touched since: keep, with its new deadline
			continue
		}
		if len(reply) > 0 && reply[0] == "DELETED" {
			n++
		}
		s.unindexExpiry(ctx, member)
	}
	return n, nil
}

// maxExpiredPerCall bounds how many index candidates one DeleteExpired
// call looks at, split evenly over the shards.
const maxExpiredPerCall = 5008

// indexMembers runs one read per index shard in one round trip and
// returns every member.
func (s *SessionStore) indexMembers(ctx context.Context, op string, cmds rueidis.Commands) ([]string, error) {
	var ids []string
	for _, res := range s.c.DoMulti(ctx, cmds...) {
		part, err := res.AsStrSlice()
		if err != nil {
			return nil, translate(op, err)
		}
		ids = append(ids, part...)
	}
	return ids, nil
}

// Stats implements session.Store from the expiry index, which holds every
// stored session (live, revoked or expired but not yet forgotten): an
// admin query whose cost grows with the number of sessions. It reads one
// index shard at a time and the sessions in batches of statsBatch, so its
// memory stays that of one shard's members, not of every session.
// Filtered by user, it reads only that user's shard and sessions.
func (s *SessionStore) Stats(ctx context.Context, f session.StatsFilter, now time.Time) (session.Stats, error) {
	st := session.NewStats()
	for _, shard := range s.expiryShardsFor(f.UserID) {
		members, err := s.indexMembers(ctx, "session.stats", rueidis.Commands{s.c.B().Zrange().Key(shard).Min("0").Max("-1").Build()})
		if err != nil {
			return st, err
		}
		var ids []string
		for _, member := range members {
			id, _ := splitExpiryMember(member)
			if f.UserID == "" || session.TagOf(id) == session.UserTag(f.UserID) {
				ids = append(ids, id)
			}
		}
		for batch := range slices.Chunk(ids, statsBatch) {
			if err := s.countSessions(ctx, &st, batch, f, now); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// statsBatch is how many sessions Stats reads in one round trip.
const statsBatch = 1000

// countSessions reads the sessions ids in one pipeline and counts them
// into st.
func (s *SessionStore) countSessions(ctx context.Context, st *session.Stats, ids []string, f session.StatsFilter, now time.Time) error {
	cmds := make(rueidis.Commands, len(ids))
	for i, id := range ids {
		cmds[i] = s.c.B().Hmget().Key(s.sessionKey(id)).Field(getFields...).Build()
	}
	for _, res := range s.c.DoMulti(ctx, cmds...) {
		v, err := res.AsStrSlice()
		if err != nil {
			return translate("session.stats", err)
		}
		x, err := s.parse("session.stats", v)
		if errors.Is(err, store.ErrNotFound) {
			continue // expired between the index read and this one
		}
		if err != nil {
			return err
		}
		if f.UserID == "" || x.UserID == f.UserID {
			st.Count(x, f, now)
		}
	}
	return nil
}

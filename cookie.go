package authv2

import (
	"errors"
	"net/http"
	"time"
)

// InsecureCookieError is SetSessionCookie refusing to send a Secure (or
// __Host-) cookie on a request that did not arrive over TLS: the browser
// would drop it, or, worse, an attacker on the path would read it.
// Terminate TLS, list the TLS-terminating proxy in TrustedProxies, or turn
// on development mode for local work.
type InsecureCookieError struct {
	Name string // the cookie's name
}

// Error says how to get past it, since the usual cause is local work over
// plain HTTP with development mode not reaching the Manager: New does not
// read AUTHV2_DEV_MODE, ConfigFromEnv does.
func (e *InsecureCookieError) Error() string {
	return "authv2: refusing to set Secure cookie " + e.Name + " over plain HTTP (no TLS, no trusted X-Forwarded-Proto: https); " +
		"behind a TLS-terminating proxy list it in HTTPConfig.TrustedProxies (AUTHV2_TRUSTED_PROXIES); " +
		"for local HTTP only, set HTTPConfig.DevelopmentMode, or AUTHV2_DEV_MODE=true and pass authv2.ConfigFromEnv() to New with WithConfig"
}

// Is makes errors.Is(err, ErrInsecureCookie) true.
func (e *InsecureCookieError) Is(target error) bool { return target == ErrInsecureCookie }

// cookieSettings returns the settings of the Middleware that saw r, whose
// request information already says whether r came over TLS, or the
// Manager's when r did not go through one. The cookie's attributes are
// Config.HTTP's either way.
func (m *Manager) cookieSettings(r *http.Request) (*mwSettings, *requestInfo) {
	if r != nil {
		if ri, ok := r.Context().Value(requestKey).(*requestInfo); ok {
			return ri.settings, ri
		}
	}
	return m.settings(nil), nil
}

// SetSessionCookie sends res's token as the session cookie: HttpOnly,
// Secure, SameSite Lax (or Strict), Path=/, no Domain, expiring with the
// session's absolute deadline. With res.DeviceToken it also sends the
// device cookie (the session cookie's name + "-device", the same
// attributes, expiring with the device's trust); read it back with
// DeviceToken. It marks the response no-store. The name and attributes
// are Config.HTTP's, those every Middleware reads. Over plain HTTP
// it refuses with an *InsecureCookieError unless development mode is on.
func (m *Manager) SetSessionCookie(w http.ResponseWriter, r *http.Request, res *LoginResult) error {
	if res == nil || res.Token == "" || res.Session == nil {
		return errors.New("authv2: SetSessionCookie needs a LoginResult with a token and session")
	}
	s, ri := m.cookieSettings(r)
	c := s.cookie(res.Token)
	if !s.DevelopmentMode {
		secure := ri != nil && ri.tls
		if ri == nil && r != nil {
			secure = viaTLS(r, s.proxies)
		}
		if !secure {
			return &InsecureCookieError{Name: c.Name}
		}
	}
	exp := res.Session.AbsoluteExpiresAt
	c.Expires = exp.UTC()
	c.MaxAge = max(1, int(exp.Sub(m.clock.Now()).Seconds()))
	w.Header().Set("Cache-Control", "no-store")
	http.SetCookie(w, c)
	if res.DeviceToken != "" {
		d := s.deviceCookie(res.DeviceToken)
		d.Expires = m.clock.Now().Add(deviceTTL).UTC()
		d.MaxAge = int(deviceTTL.Seconds())
		http.SetCookie(w, d)
	}
	return nil
}

// DeviceToken returns the device token in r's device cookie, "" if none:
// pass it to Login as LoginInput.DeviceToken. The cookie's name follows
// Config.HTTP, as in SetSessionCookie.
func (m *Manager) DeviceToken(r *http.Request) string {
	if r == nil {
		return ""
	}
	s, _ := m.cookieSettings(r)
	c, err := r.Cookie(s.deviceCookie("").Name)
	if err != nil {
		return ""
	}
	return c.Value
}

// ClearSessionCookie tells the browser to drop the session cookie and
// marks the response no-store. The device cookie stays: logging out does
// not make the device a stranger. Call it on logout, after Logout ended the
// session on the server. The cookie is Config.HTTP's, as in
// SetSessionCookie; r may be nil.
func (m *Manager) ClearSessionCookie(w http.ResponseWriter, r *http.Request) {
	s, _ := m.cookieSettings(r)
	c := s.cookie("")
	c.MaxAge = -1
	c.Expires = time.Unix(0, 0)
	w.Header().Set("Cache-Control", "no-store")
	http.SetCookie(w, c)
}

// cookie returns the session cookie with every fixed attribute set.
func (s *mwSettings) cookie(value string) *http.Cookie {
	return &http.Cookie{
		Name:     s.cookieName(),
		Value:    value,
		Path:     "/",
		Secure:   !s.DevelopmentMode,
		HttpOnly: true,
		SameSite: s.SameSite,
	}
}

// deviceCookie returns the device cookie: the session cookie's attributes
// under its own name.
func (s *mwSettings) deviceCookie(value string) *http.Cookie {
	c := s.cookie(value)
	c.Name += "-device"
	return c
}

// Package handlers is a mountable kit of JSON endpoints for the account
// flows every application otherwise writes itself: register, log in and
// out, who am I, list and revoke one's sessions, re-authenticate, change
// password or email, switch tenant, reset a password, verify an
// email address, and manage a tenant's members, invitations and email
// domains. It uses only the public API of package authv2, so the
// kit is an example of that API as much as a shortcut.
//
// Serve the kit behind Manager.Middleware, the same middleware (same
// options) as the rest of the application, without RequireAuthentication:
// it authenticates the caller, derives the client (for throttling and
// audit) and refuses cross-origin unsafe requests that do not carry a
// bearer token, login included. A request that did not go through the
// middleware is refused with 500 rather than served without CSRF
// protection.
//
//	kit := handlers.New(m, handlers.WithLogger(log))
//	mux.Handle("/auth/", http.StripPrefix("/auth", m.Middleware()(kit)))
//
// Routes (paths relative to where the kit is mounted; "a session": the
// kit answers an API key 403 session-required, as the Manager does on
// the credential routes):
//
//	POST   /register                      201 user; 202 with EnumerationSafeRegistration
//	POST   /login                         200 session (cookie or token, see below)
//	POST   /logout                        204, cookie cleared          (authenticated)
//	GET    /me                            200 user, tenant, roles      (authenticated)
//	GET    /sessions                      200 the caller's sessions    (a session)
//	DELETE /sessions/{id}                 204; 404 for another's       (a session)
//	POST   /reauthenticate                200 new session              (authenticated)
//	POST   /password                      200 new session              (authenticated, fresh)
//	POST   /email                         200 new session              (authenticated, fresh)
//	POST   /switch-tenant                 200 new session              (authenticated)
//	POST   /password-reset                202 whether or not the address is known
//	POST   /password-reset/complete       204
//	POST   /email-verification            202 (the caller's account, or {"user_id"})
//	POST   /email-verification/complete   204
//	POST   /api-keys                      201 key, secret shown once   (authenticated, fresh)
//	GET    /api-keys                      200 the caller's keys        (authenticated)
//	DELETE /api-keys/{id}                 204; 404 for another's       (a session)
//	DELETE /api-keys                      200 IDs of the keys revoked  (a session)
//	POST   /service-accounts              201 in the caller's tenant   (service_accounts:manage)
//	GET    /service-accounts              200 the tenant's accounts    (service_accounts:manage)
//	DELETE /service-accounts/{id}         204, keys revoked            (service_accounts:manage)
//	POST   /service-accounts/{id}/disable 204, keys revoked            (service_accounts:manage)
//	POST   /service-accounts/{id}/enable  204                          (service_accounts:manage)
//	POST   /service-accounts/{id}/api-keys        201 key, shown once  (service_accounts:manage, fresh)
//	GET    /service-accounts/{id}/api-keys        200                  (service_accounts:manage)
//	DELETE /service-accounts/{id}/api-keys/{key}  204                  (service_accounts:manage)
//	POST   /invitations/accept            201 new user; 200 the caller's account linked
//	GET    /invitations                   200 a page (?after=&limit=)  (members:read)
//	POST   /invitations                   201 invitation               (members:invite)
//	POST   /invitations/{id}/resend       200 invitation, new token    (members:invite)
//	DELETE /invitations/{id}              204                          (members:invite)
//	GET    /members                       200 a page, with roles       (members:read)
//	PUT    /members/{id}/roles            200 member                   (members:update)
//	DELETE /members/{id}                  204, their sessions ended    (members:remove)
//	POST   /ownership                     204 ownership to user_id     (an owner)
//	GET    /domains                       200 the tenant's email domains (members:read)
//	POST   /domains                       201 domain, its TXT record   (members:invite)
//	POST   /domains/{domain}/verify       200 domain, verified         (members:invite)
//	DELETE /domains/{domain}              204                          (members:invite)
//	POST   /impersonations                201 session, token in the body (users:impersonate)
//	POST   /impersonations/end            200 record; back to actor_session_id (an impersonation)
//	GET    /impersonations                200 a page: who acted as the caller (authenticated)
//
// # API keys and service accounts
//
// A key is created in the caller's session tenant with the patterns of
// "permissions" ("orders:read", "orders:*"), optionally a "scope" and an
// "expires_at"; the answer's "key" (av2k_...) is shown once. A key is a
// bearer credential: send it as "Authorization: Bearer av2k_..." to any
// route behind the middleware; it cannot create or revoke keys, list or
// end its owner's sessions, read the owner's factors, or change
// credentials (403 session-required). The service-account routes check
// ServiceAccountsPermission on a "service_accounts" resource of the
// caller's tenant; an account of another tenant answers 404. Bind roles
// to a service account with Manager.Bind (its ID as the user ID).
//
// # Impersonation
//
// POST /impersonations {"user_id", "reason", "duration_seconds"} acts as
// another member of the caller's tenant (authv2.Manager.StartImpersonation:
// the caller needs authv2.PermissionImpersonate and every right the member
// has there). The token comes in the body even for a browser, whose
// cookie keeps the caller's own session: send it as a bearer token while
// impersonating, then POST /impersonations/end with it and drop it. An
// impersonation session cannot change credentials, factors, sessions or
// keys (403 impersonation), and GET /impersonations lets every user see
// who acted as them, when and why.
//
// # Members and invitations
//
// The member and invitation routes act in the caller's session tenant
// (403 not-member without one) and need the permission in parentheses
// there (Manager.Authorize on resource type "members"); on top of it the
// Manager refuses to hand out or take away rights the caller does not
// hold (403 exceeds-own-rights) and to leave the tenant without an owner
// (409 last-owner). Invitation tokens go to the Notifier, which must be
// an authv2.InvitationNotifier, never into an answer.
//
// A tenant's email domains ("domain", "role", "scope") capture the users
// who verify an address there. POST /domains answers with the "record"
// to publish in the domain's DNS (type TXT, "name", "value"); verify
// answers 400 domain-not-verified until it can be read, 409
// domain-claimed while another tenant has the domain verified. A public
// mail domain or a malformed one is 400 validation on "domain".
//
// With authv2.WithMFA, POST /login answers a user with a second factor
// 200 {"mfa_required": true, "pending_token", "factors", "enroll"} and no
// session; these routes finish the login, manage factors and step up:
//
//	POST   /login/mfa                     200 session: {pending_token, factor, code | challenge_id, response, device_token}
//	POST   /login/mfa/webauthn            200 {options, challenge_id} for navigator.credentials.get
//	POST   /login/mfa/enroll-totp         200 {secret, uri, qr_png} (a tenant requires a factor: "enroll")
//	POST   /login/passkey                 200 {options, challenge_id} for a passwordless login
//	POST   /login/passkey/complete        200 session (AAL2): {challenge_id, response, tenant_id, device_token}
//	GET    /mfa                           200 the caller's factors     (a session)
//	POST   /mfa/totp                      200 {secret, uri, qr_png}    (authenticated, fresh)
//	POST   /mfa/totp/confirm              204 {code}                   (authenticated)
//	DELETE /mfa/totp                      204                          (authenticated, fresh AAL2)
//	POST   /mfa/recovery-codes            200 {codes}, shown once      (authenticated, fresh AAL2)
//	POST   /mfa/webauthn                  200 {options, challenge_id}  (authenticated, fresh)
//	POST   /mfa/webauthn/complete         201 credential               (authenticated)
//	PATCH  /mfa/webauthn/{id}             204 {name}                   (authenticated)
//	DELETE /mfa/webauthn/{id}             204                          (authenticated, fresh AAL2)
//	POST   /step-up                       200 new session: {factor, code | challenge_id, response}
//	POST   /step-up/webauthn              200 {options, challenge_id}  (authenticated)
//
// "fresh" is a credential proven within Config.ReauthWindow; once the user
// has a factor, changing factors needs AAL2 proven that recently (403
// step-up-required, whose problem says what is missing: step up first).
//
// # Cookie or token
//
// A route that opens or replaces a session delivers its token one way
// only. A request that carries "Authorization: Bearer" or the header
// "Authv2-Auth-Mode: bearer" (AuthModeHeader) is a bearer client: the
// token (and the device token) come back in the body and no cookie is
// set. Any other request is a browser, and so is one that authenticated
// with the session cookie whatever headers it adds (script in the page
// can add them): the session and device cookies are set
// (Manager.SetSessionCookie) and the body carries no secret, so script
// injected into the page cannot read the token. Over plain HTTP
// outside development mode the cookie cannot be set: the new session is
// ended again and the request fails with 500 (the server's TLS set-up,
// or TrustedProxies, is wrong), while bearer clients still log in.
//
// /login, /login/mfa and /login/passkey/complete read the device token
// back from the body's "device_token", else from the device cookie. With
// a second factor due, the device token comes with the session (from
// /login/mfa), never with the pending token.
//
// # Requests and errors
//
// Bodies are JSON objects of at most 64 KiB (413 beyond). Fields the kit
// does not declare are ignored rather than refused: they have nowhere to
// go (a smuggled "role" or "tenant_id" in /register changes nothing), a
// misspelt required field still fails validation, and clients may send
// fields a newer kit will understand. Every error is an RFC 9457
// application/problem+json from authv2.ProblemFor, validation errors
// naming the rejected fields ("email", "password"), plus the kit's own:
// "urn:authv2:problem:malformed-body" (400), "...:too-large" (413) and
// "...:invalid-token" (400, an unknown, used or expired reset or
// verification token). A listing's ?limit= is a whole number of 0 or more
// (0 or absent: the default page; the Manager caps it at 500); anything
// else is 400 validation on "limit".
package handlers

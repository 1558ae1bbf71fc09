package api

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"tally/ledger"
	"tally/ledger/community"
)

// KeyRotation reports a new key: the token key id, or the checkpoint
// verifier key.
type KeyRotation struct {
	Kid         string `json:"kid,omitempty"`
	VerifierKey string `json:"verifier_key,omitempty"`
}

func (s *Server) adminRoutes() []route {
	admin := []community.Role{community.RoleAdmin}
	return []route{
		{method: "POST", path: "/v1/admin/keys/token/rotate", summary: "Rotate the token signing key; tokens signed before stay valid until they expire, unless end_sessions ends them all (a suspected leak)", tag: "admin", auth: authenticated, roles: admin, req: TokenRotateRequest{}, resp: KeyRotation{}, status: 200, handle: s.rotateTokenKey},
		{method: "POST", path: "/v1/admin/keys/checkpoint/rotate", summary: "Rotate the checkpoint signing key (recorded in the chain)", tag: "admin", auth: authenticated, roles: admin, resp: KeyRotation{}, status: 200, handle: s.rotateCheckpointKey},
	}
}

// globalAdmin refuses admins scoped below the whole deployment: keys are
// the deployment's.
func globalAdmin(c *gin.Context) bool {
	if principal(c).Community != "" {
		failCode(c, ledger.CodeForbidden, "only the deployment's admin (not one scoped to a community) does this")
		return false
	}
	return true
}

// TokenRotateRequest: the body of a token key rotation, optional.
// EndSessions refuses at once every token signed before, access and
// refresh alike, so that whoever took a copy of a key (a leaked backup)
// is shut out; everyone logs in again.
type TokenRotateRequest struct {
	EndSessions bool `json:"end_sessions,omitempty"`
}

func (s *Server) rotateTokenKey(c *gin.Context) {
	if !globalAdmin(c) {
		return
	}
	var req TokenRotateRequest
	if err := bindOptional(c, &req); err != nil {
		fail(c, err)
		return
	}
	key, err := newJWTKey()
	if err != nil {
		fail(c, err)
		return
	}
	// Through commit, so that a retry with the same Idempotency-Key
	// answers the first rotation instead of rotating again; the new key is
	// used only if this request's op ran (not on a replay).
	ran := false
	op := tokenKeyOp(key, "", req.EndSessions)
	s.rotating.Lock()
	defer s.rotating.Unlock()
	s.commitThen(c, http.StatusOK, func() {
		if ran {
			s.useTokenKey(*key, req.EndSessions)
		}
	}, func(tx ledger.Tx) (any, error) { ran = true; return op(tx) })
}

func (s *Server) rotateCheckpointKey(c *gin.Context) {
	if !globalAdmin(c) {
		return
	}
	if s.cfg.RotateCheckpointKey == nil {
		failCode(c, ledger.CodeUnavailable, "checkpoint key rotation is not available")
		return
	}
	// The new key signs a checkpoint before the answer names it: an
	// auditor verifying at once with the key the answer gives finds a
	// checkpoint it signed (one that fails is signed by the next tick).
	s.commitThen(c, http.StatusOK, func() {
		if s.cfg.CheckpointNow != nil {
			if _, err := s.cfg.CheckpointNow(c.Request.Context()); err != nil {
				slog.Warn("no checkpoint signed right after the key rotation; the next tick signs one", "err", err)
			}
		}
	}, func(tx ledger.Tx) (any, error) {
		vkey, err := s.cfg.RotateCheckpointKey(tx)
		if err != nil {
			return nil, err
		}
		return KeyRotation{VerifierKey: vkey.(string)}, nil
	})
}

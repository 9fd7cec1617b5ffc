package regcenter

// Role is what kind of party a client certificate proves the caller to be.
type Role string

const (
	RolePlatform Role = "platform" // chains to the platform CA; ID is the certificate's CN
	RoleDevice   Role = "device"   // chains to the device CA; ID is the normalised ESN
)

// Identity is an authenticated caller. Transports derive it from the
// verified certificate chain alone, never from anything the caller sends.
type Identity struct {
	Role Role
	ID   string
}

// Require returns an *Error of kind ErrForbidden (code wrong_role) unless
// the caller has the given role.
func (id Identity) Require(role Role) error {
	if id.Role != role {
		return Errorf(ErrForbidden, CodeWrongRole, "this operation is for %s certificates", role)
	}
	return nil
}

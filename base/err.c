#include <errno.h>

#include "kluis/err.h"

const char *
kl_strerror(int err)
{
	switch (err) {
	case KL_OK: return "success";
	case KL_E_NOMEM: return "out of memory";
	case KL_E_IO: return "input/output error";
	case KL_E_NOTFOUND: return "not found";
	case KL_E_CORRUPT: return "data is corrupt or has been tampered with";
	case KL_E_INVAL: return "invalid argument";
	case KL_E_EXISTS: return "already exists";
	case KL_E_BADPASS: return "wrong passphrase (no key opens with it)";
	case KL_E_PERM: return "permission denied (key or role lacks the right)";
	case KL_E_LOCKED: return "repository is locked";
	case KL_E_UNSUPPORTED: return "unsupported format version or feature";
	case KL_E_LIMIT: return "size or count limit exceeded";
	case KL_E_NOSPACE: return "no space left on device";
	case KL_E_PROTO: return "protocol error";
	case KL_E_CRYPTO: return "cryptographic library failure";
	case KL_E_CHANGED: return "file changed or vanished while being read";
	case KL_E_CONN: return "connection failed or dropped";
	case KL_E_HOSTKEY: return "SSH host key is unknown or has changed";
	case KL_E_DENIED: return "permission denied by the operating system";
	}
	return "unknown error";
}

int
kl_err_from_errno(int e)
{
	switch (e) {
	case 0: return KL_OK;
	case ENOENT: case ENOTDIR: return KL_E_NOTFOUND;
	case ENOSPC: case EDQUOT: return KL_E_NOSPACE;
	case EEXIST: return KL_E_EXISTS;
	case EACCES: case EPERM: case EROFS: return KL_E_DENIED;
	case ENOMEM: return KL_E_NOMEM;
	}
	return KL_E_IO;
}

/* svc_status.c -- text for the status enum. */
#include "svc_status.h"

const char *
svc_status_str(enum svc_status st)
{
	switch (st) {
	case SVC_OK:
		return "ok";
	case SVC_ENOMEM:
		return "out of memory";
	case SVC_EINVAL:
		return "invalid input";
	case SVC_EIO:
		return "I/O error";
	case SVC_ENOENT:
		return "not found";
	case SVC_EEXIST:
		return "already exists";
	case SVC_ERANGE:
		return "out of range";
	case SVC_EFULL:
		return "range exhausted";
	case SVC_ELIMIT:
		return "limit exceeded";
	case SVC_ENOTSUP:
		return "not supported";
	}
	return "unknown status";
}

/* svc_status.h -- the one status enum every module returns. */
#ifndef SVC_STATUS_H
#define SVC_STATUS_H

/* 0 is success, every failure is negative so "if (st < 0)" reads the same everywhere. */
enum svc_status {
	SVC_OK = 0,
	SVC_ENOMEM = -1,  /* allocation failed */
	SVC_EINVAL = -2,  /* input is malformed or fails validation; details are in a diag */
	SVC_EIO = -3,     /* a system call failed; errno is kept */
	SVC_ENOENT = -4,  /* no such object, file or name */
	SVC_EEXIST = -5,  /* object already exists */
	SVC_ERANGE = -6,  /* value outside its allowed range */
	SVC_EFULL = -7,   /* an address or port range has nothing left */
	SVC_ELIMIT = -8,  /* input exceeds a size, depth or count limit */
	SVC_ENOTSUP = -9, /* well-formed but not supported */
};

/* Short English text for ST, never NULL. */
const char *svc_status_str(enum svc_status st);

#endif

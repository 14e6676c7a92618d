// types/: errno names that classify a failed heartbeat (health/ decides on them, metrics/ counts them).
/**
 * Heartbeat errors that say the interface cannot send at all (it vanished, is down, or has
 * no address or route): link errors, never lost packets (include/uapi/asm-generic/errno.h).
 */
export const LINK_ERRNOS: ReadonlySet<string> = new Set(['ENODEV', 'ENXIO', 'ENETDOWN', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/**
 * Heartbeat errors that are this gateway's own trouble (out of file descriptors, socket
 * buffers or memory): they say nothing about the path, so they are neither answers nor
 * losses (include/uapi/asm-generic/errno-base.h, errno.h).
 */
export const LOCAL_ERRNOS: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);

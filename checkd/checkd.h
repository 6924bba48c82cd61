/*
 * checkd: the agent's own services and checks (runs the checks, maintenance
 * mode, anti-entropy into the catalog).  For now the daemon frame only:
 * config, ping/status, reload.
 */
#ifndef TRIBUNE_CHECKD_H
#define TRIBUNE_CHECKD_H

#include "daemon.h"

struct checkd {
	struct daemon *d;
	size_t         nservices;   /* service definitions in the config */
	size_t         nchecks;     /* check definitions in the config */
};

/* checkd.c */
extern const struct daemon_ops checkd_ops;
void checkd_count_definitions(const json_t *root, size_t *nservices,
         size_t *nchecks);

#endif

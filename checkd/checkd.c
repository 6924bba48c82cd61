#include <stdlib.h>

#include "checkd.h"
#include "log.h"

static struct checkd checkd;

/* Counts "service"/"services" and "check"/"checks" (also inline in services). */
void
checkd_count_definitions(const json_t *root, size_t *nservices, size_t *nchecks)
{
	json_t *v;
	size_t  i;
	json_t *svc;

	*nservices = *nchecks = 0;
	if ((v = config_jget(root, "service")) != NULL && json_is_object(v))
		(*nservices)++;
	if ((v = config_jget(root, "services")) != NULL && json_is_array(v)) {
		*nservices += json_array_size(v);
		json_array_foreach(v, i, svc) {
			json_t *c = config_jget(svc, "checks");
			*nchecks += json_is_array(c) ? json_array_size(c) : 0;
			*nchecks += config_jget(svc, "check") != NULL;
		}
	}
	if ((v = config_jget(root, "check")) != NULL && json_is_object(v))
		(*nchecks)++;
	if ((v = config_jget(root, "checks")) != NULL && json_is_array(v))
		*nchecks += json_array_size(v);
}

static int
checkd_init(struct daemon *d)
{
	checkd.d = d;
	d->priv = &checkd;
	checkd_count_definitions(d->cfg.root, &checkd.nservices, &checkd.nchecks);
	log_info("started: %zu services and %zu checks defined",
	    checkd.nservices, checkd.nchecks);
	return 0;
}

static void
checkd_reload(struct daemon *d, const struct config *old)
{
	(void)old;
	checkd_count_definitions(d->cfg.root, &checkd.nservices, &checkd.nchecks);
	log_info("reloaded: %zu services and %zu checks defined",
	    checkd.nservices, checkd.nchecks);
}

static void
checkd_status(struct daemon *d, json_t *out)
{
	(void)d;
	json_object_set_new(out, "services", json_integer((json_int_t)checkd.nservices));
	json_object_set_new(out, "checks", json_integer((json_int_t)checkd.nchecks));
}

const struct daemon_ops checkd_ops = {
	.name = "checkd",
	.init = checkd_init,
	.reload = checkd_reload,
	.status = checkd_status,
};

/*
 * libFuzzer: proto/config.c, the agent's configuration as read from
 * -config-file / -config-dir.  The input's first line is a flag and its
 * value ("-node=x", "-retry-join x", ...), fed through the flag table; the
 * rest is a config file's text, validated and merged the way the
 * supervisor loads one, then resolved into a struct config.  Every string
 * in the document is also tried as a duration.  Nothing may crash, leak or
 * read out of bounds; a refusal must come with a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every string value under v goes through the duration parser. */
static void
fuzz_durations(json_t *v)
{
	const char *k;
	json_t     *e;
	size_t      i;
	int64_t     ns;

	if (json_is_string(v))
		(void)config_parse_duration(json_string_value(v), &ns);
	else if (json_is_object(v))
		json_object_foreach(v, k, e) {
			(void)config_parse_duration(k, &ns);
			fuzz_durations(e);
		}
	else if (json_is_array(v))
		json_array_foreach(v, i, e)
			fuzz_durations(e);
}

/* The first line as "-flag=value" or "-flag value". */
static void
fuzz_flag(json_t *doc, const char *line)
{
	const struct config_option *o = config_find_flag(line);
	const char *val = strchr(line, '=');
	char        err[256] = "";

	if (o == NULL)
		return;
	if (val == NULL && (val = strchr(line, ' ')) == NULL)
		val = "";
	else
		val++;
	if (config_set_flag(doc, o, val, err, sizeof(err)) != 0 && err[0] == '\0')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char          *text = malloc(size + 1), *nl, err[256] = "";
	json_t        *doc = json_object(), *f;
	json_error_t   je;
	struct config  cfg;

	if (text == NULL || doc == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	if ((nl = strchr(text, '\n')) != NULL) {
		*nl = '\0';
		fuzz_flag(doc, text);
	}
	f = json_loads(nl != NULL ? nl + 1 : text, JSON_REJECT_DUPLICATES, &je);
	if (f != NULL) {
		fuzz_durations(f);
		if (json_is_object(f)) {
			if (config_validate(f, "fuzz", err, sizeof(err)) == 0)
				config_merge(doc, f);
			else if (err[0] == '\0')
				abort();
		}
		json_decref(f);
	}
	config_fill_defaults(doc);
	memset(&cfg, 0, sizeof(cfg));
	err[0] = '\0';
	/* config_from_json takes a reference of its own. */
	if (config_from_json(doc, &cfg, err, sizeof(err)) == 0)
		config_free(&cfg);
	else if (err[0] == '\0')
		abort();
	json_decref(doc);
	free(text);
	return 0;
}

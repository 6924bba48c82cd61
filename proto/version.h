/*
 * version.h: the two versions an agent reports.
 *
 * TRIBUNE_VERSION is this program's release: the banner and `tribune
 * version`.  TRIBUNE_CONSUL_VERSION is the Consul release whose HTTP API,
 * member tags and catalog entries tribune reproduces; tools that read a
 * Consul version (agent/self Config.Version, the serf `build` tag, the
 * consul service's Meta.version) see it, so their version checks pass.
 */
#ifndef TRIBUNE_VERSION_H
#define TRIBUNE_VERSION_H

#define TRIBUNE_VERSION        "0.1.0"
#define TRIBUNE_REVISION       "tribune"
#define TRIBUNE_CONSUL_VERSION "1.15.2"

#endif

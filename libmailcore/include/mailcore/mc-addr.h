/* mc-addr: socket addresses as written in configuration files:
 * "127.0.0.1:2525", "[::1]:2525", "localhost:25" is refused (numeric only),
 * and comma-separated lists of them. */
#ifndef MC_ADDR_H
#define MC_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

struct mc_error;

struct mc_sockaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

#define MC_ADDR_STR_MAX 64 /* "[ffff:...:ffff]:65535" fits */

/* Parses one numeric "IPv4:port" or "[IPv6]:port". Port 1..65535. */
int mc_addr_parse(const char *s, struct mc_sockaddr *addr_r,
		  struct mc_error *err);
/* Parses "a, b, c" into up to max addresses; an empty string gives 0.
 * Returns the count, or -1 (err set, naming the bad item). */
int mc_addr_list_parse(const char *s, struct mc_sockaddr *addrs, size_t max,
		       struct mc_error *err);
/* Formats addr into buf (MC_ADDR_STR_MAX bytes); returns buf. */
const char *mc_addr_str(const struct mc_sockaddr *addr, char *buf);
/* Just the IP, without the port. */
const char *mc_addr_ip_str(const struct mc_sockaddr *addr, char *buf);
int mc_addr_port(const struct mc_sockaddr *addr);
int mc_addr_is_loopback(const struct mc_sockaddr *addr);

#endif

/* mc-addr: socket addresses as written in configuration files:
 * "127.0.0.1:2525", "[::1]:2525", "localhost:25" is refused (numeric only),
 * and comma-separated lists of them. */
#ifndef MC_ADDR_H
#define MC_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct mc_error;

struct mc_sockaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

#define MC_ADDR_STR_MAX 64 /* "[ffff:...:ffff]:65535" fits */
#define MC_ADDR_NETS_MAX 256 /* networks in one configuration list */

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

/* A network: "10.0.0.0/8", "2001:db8::/32", or a single host "192.0.2.1"
 * (/32 or /128). IPv4-mapped IPv6 clients match IPv4 networks. */
struct mc_cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned prefix;
};

/* Parses one network; host bits must be zero ("10.1.0.0/8" is refused).
 * 0, or -1 with err (MC_ERR_INVALID). */
int mc_cidr_parse(const char *s, struct mc_cidr *cidr_r, struct mc_error *err);
/* Parses "a, b, c" into up to max networks; "" gives 0. Returns the
 * count, or -1 with err naming the bad item. */
int mc_cidr_list_parse(const char *s, struct mc_cidr *list, size_t max,
		       struct mc_error *err);
/* True when addr's IP is inside one of the n networks. */
bool mc_cidr_list_match(const struct mc_cidr *list, size_t n,
			const struct mc_sockaddr *addr);

#endif

/* mc-webd: HTTP and HTTPS for the REST API, webmail, portals, autoconfig
 * and metrics. Until those land, every request is answered with 503 and an
 * RFC 9457 problem document, after its header has been read. */
#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#include "mailcore/mc-service.h"

#define HEADER_MAX 16384

/* The body of every response, written once the request header arrived. */
static const char problem[] =
	"{\"type\":\"https://mailcore.invalid/problems/unavailable\","
	"\"title\":\"Service not available yet\",\"status\":503}";

/* Sends the response with the problem document and closes. */
static void respond(struct bufferevent *bev, int status, const char *reason)
{
	char head[256];
	snprintf(head, sizeof(head),
		 "HTTP/1.1 %d %s\r\nContent-Type: application/problem+json\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		 status, reason, strlen(problem));
	bufferevent_write(bev, head, strlen(head));
	bufferevent_write(bev, problem, strlen(problem));
	mc_service_close_after_write(bev);
}

/* Waits for the end of the request header. */
static void webd_read(struct bufferevent *bev, void *ctx)
{
	(void)ctx;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos >= 0) {
		evbuffer_drain(in, evbuffer_get_length(in));
		respond(bev, 503, "Service Unavailable");
	} else if (evbuffer_get_length(in) > HEADER_MAX) {
		evbuffer_drain(in, evbuffer_get_length(in));
		respond(bev, 431, "Request Header Fields Too Large");
	}
}

/* Frees a connection that failed or closed before its request. */
static void webd_event(struct bufferevent *bev, short what, void *ctx)
{
	(void)ctx;
	if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) != 0)
		bufferevent_free(bev);
}

/* Starts reading a request. */
static void webd_accept(struct mc_loop *loop, struct bufferevent *bev,
			const struct mc_conn_info *info, void *ctx)
{
	(void)loop;
	(void)info;
	struct timeval timeout = {.tv_sec = 30};
	bufferevent_setcb(bev, webd_read, NULL, webd_event, ctx);
	bufferevent_set_timeouts(bev, &timeout, &timeout);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static const struct mc_service_listener listeners[] = {
	{"listen_http", false, webd_accept},
	{"listen_https", true, webd_accept},
	{0},
};

static const struct mc_service_def webd = {
	.name = "mc-webd",
	.section = "webd",
	.listeners = listeners,
	.needs_db = true,
	.needs_redis = true,
};

int main(int argc, char **argv)
{
	return mc_service_main(argc, argv, &webd);
}

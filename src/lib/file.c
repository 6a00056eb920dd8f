/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded whole-file reads. */
#include "lib/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_read_all(const char *path, size_t max, char **buf, size_t *len, struct errbuf *eb)
{
	struct stat st;
	size_t got = 0;
	int fd, err;

	*buf = NULL;
	*len = 0;
	/* O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd == -1) {
		err = -errno;
		errbuf_set(eb, err, "%s: %s", path, strerror(-err));
		return err;
	}
	if (fstat(fd, &st) == -1) {
		err = -errno;
		errbuf_set(eb, err, "%s: %s", path, strerror(-err));
		goto err_close;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		errbuf_set(eb, err, "%s: not a regular file", path);
		goto err_close;
	}
	if ((size_t)st.st_size > max) {
		err = -EFBIG;
		errbuf_set(eb, err, "%s: larger than %zu bytes", path, max);
		goto err_close;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		err = -ENOMEM;
		errbuf_set(eb, -ENOMEM, "%s: out of memory", path);
		goto err_close;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, *buf + got, (size_t)st.st_size - got);

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r == 0 ? -EIO : -errno;
			errbuf_set(eb, err, "%s: %s", path,
				   r == 0 ? "file shrank while read" : strerror(-err));
			free(*buf);
			*buf = NULL;
			goto err_close;
		}
		got += (size_t)r;
	}
	close(fd);
	(*buf)[got] = '\0';
	*len = got;
	return 0;

err_close:
	close(fd);
	return err;
}

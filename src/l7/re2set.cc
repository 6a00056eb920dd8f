/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The C++ shim between regex.h and RE2. No exception leaves this file:
 * allocation failures become -ENOMEM / NULL with errno, as in the C code
 * around it. RE2 is told not to log: errors come back in errbufs only.
 */
#include "l7/regex.h"

#include <errno.h>
#include <string.h>

#include <new>
#include <string>
#include <vector>

#include <re2/re2.h>
#include <re2/set.h>

struct l7_reset {
	re2::RE2::Set set;
	std::vector<uint32_t> ids;

	explicit l7_reset(const re2::RE2::Options &o) : set(o, re2::RE2::ANCHOR_BOTH)
	{
	}
};

static void re2_options(re2::RE2::Options *o, size_t max_mem)
{
	o->set_log_errors(false);
	o->set_encoding(re2::RE2::Options::EncodingUTF8);
	o->set_max_mem(max_mem ? (int64_t)max_mem : (int64_t)L7_RESET_MAX_MEM);
}

int l7_regex_check(const char *pattern, struct errbuf *eb)
{
	try {
		re2::RE2::Options o;

		if (strlen(pattern) > L7_REGEX_MAX_LEN)
			return errbuf_set(eb, -EINVAL, "regular expression longer than %d bytes",
					  L7_REGEX_MAX_LEN);
		re2_options(&o, 0);
		re2::RE2 re(pattern, o);
		if (!re.ok())
			return errbuf_set(eb, -EINVAL, "invalid regular expression '%s': %s",
					  pattern, re.error().c_str());
		return 0;
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	}
}

struct l7_reset *l7_reset__new(const char *const *patterns, const uint32_t *ids, size_t n,
			       size_t max_mem, struct errbuf *eb)
{
	struct l7_reset *s = nullptr;

	try {
		re2::RE2::Options o;

		re2_options(&o, max_mem);
		s = new l7_reset(o);
		s->ids.assign(ids, ids + n);
		for (size_t i = 0; i < n; i++) {
			std::string err;

			if (strlen(patterns[i]) > L7_REGEX_MAX_LEN) {
				errbuf_set(eb, -EINVAL, "regular expression longer than %d bytes",
					   L7_REGEX_MAX_LEN);
				delete s;
				errno = E2BIG;
				return nullptr;
			}
			/* Add() returns the pattern's index: i, as patterns are added in order. */
			if (s->set.Add(patterns[i], &err) < 0) {
				errbuf_set(eb, -EINVAL, "invalid regular expression '%s': %s",
					   patterns[i], err.c_str());
				delete s;
				errno = EINVAL;
				return nullptr;
			}
		}
		if (!s->set.Compile()) {
			errbuf_set(eb, -EINVAL,
				   "%zu regular expressions do not fit in %zu bytes of matcher "
				   "memory",
				   n, max_mem ? max_mem : (size_t)L7_RESET_MAX_MEM);
			delete s;
			errno = EINVAL;
			return nullptr;
		}
		return s;
	} catch (const std::bad_alloc &) {
		delete s;
		errno = ENOMEM;
		return nullptr;
	}
}

int l7_reset_match(const struct l7_reset *s, struct sv subject, uint64_t *bits)
{
	/* One result vector per thread, reused: no allocation per match after warm-up. */
	static thread_local std::vector<int> hits;

	try {
		re2::RE2::Set::ErrorInfo info;

		hits.clear();
		if (!s->set.Match(re2::StringPiece(subject.p ? subject.p : "", subject.len), &hits,
				  &info)) {
			switch (info.kind) {
			case re2::RE2::Set::kNoError:
				return 0;
			case re2::RE2::Set::kOutOfMemory:
				return -ENOMEM;
			default:
				return -EIO;
			}
		}
		for (int i : hits) {
			uint32_t id = s->ids[(size_t)i];

			bits[id / 64] |= (uint64_t)1 << (id % 64);
		}
		return (int)hits.size();
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	}
}

size_t l7_reset_size(const struct l7_reset *s)
{
	return s->ids.size();
}

void l7_reset__free(struct l7_reset *s)
{
	delete s;
}

/* What the libFuzzer harnesses share: the entry point's prototype, a failing check, object equality. */
#ifndef MCPPOOL_FUZZ_H
#define MCPPOOL_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An oracle that does not hold is a crash: libFuzzer saves the input that broke it. */
#define FUZZ_CHECK(cond, ...)                                                          \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                  \
			fputc('\n', stderr);                                           \
			abort();                                                       \
		}                                                                      \
	} while (0)

/*
 * Structural equality of two msgpack objects. Unlike msgpack_object_equal, floats are
 * compared bit for bit (NaN equals itself, -0.0 differs from 0.0) and float32 equals
 * float64 holding the same double (msgpack-c widens float32 into via.f64).
 */
static inline bool fuzz_obj_equal(const msgpack_object *a, const msgpack_object *b)
{
	bool fa = a->type == MSGPACK_OBJECT_FLOAT32 || a->type == MSGPACK_OBJECT_FLOAT64;
	bool fb = b->type == MSGPACK_OBJECT_FLOAT32 || b->type == MSGPACK_OBJECT_FLOAT64;

	if (fa || fb)
		return fa && fb && memcmp(&a->via.f64, &b->via.f64, sizeof(double)) == 0;
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case MSGPACK_OBJECT_NIL:
		return true;
	case MSGPACK_OBJECT_BOOLEAN:
		return a->via.boolean == b->via.boolean;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return a->via.u64 == b->via.u64;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return a->via.i64 == b->via.i64;
	case MSGPACK_OBJECT_STR:
	case MSGPACK_OBJECT_BIN:
		return a->via.str.size == b->via.str.size &&
		       (a->via.str.size == 0 ||
			memcmp(a->via.str.ptr, b->via.str.ptr, a->via.str.size) == 0);
	case MSGPACK_OBJECT_EXT:
		return a->via.ext.type == b->via.ext.type && a->via.ext.size == b->via.ext.size &&
		       (a->via.ext.size == 0 ||
			memcmp(a->via.ext.ptr, b->via.ext.ptr, a->via.ext.size) == 0);
	case MSGPACK_OBJECT_ARRAY:
		if (a->via.array.size != b->via.array.size)
			return false;
		for (uint32_t i = 0; i < a->via.array.size; i++)
			if (!fuzz_obj_equal(&a->via.array.ptr[i], &b->via.array.ptr[i]))
				return false;
		return true;
	case MSGPACK_OBJECT_MAP:
		if (a->via.map.size != b->via.map.size)
			return false;
		for (uint32_t i = 0; i < a->via.map.size; i++)
			if (!fuzz_obj_equal(&a->via.map.ptr[i].key, &b->via.map.ptr[i].key) ||
			    !fuzz_obj_equal(&a->via.map.ptr[i].val, &b->via.map.ptr[i].val))
				return false;
		return true;
	default:
		return false;
	}
}

/* Containers nested in o: 0 for a scalar, 1 for [] or [1]. */
static inline int fuzz_obj_depth(const msgpack_object *o)
{
	int deepest = 0, d;

	if (o->type == MSGPACK_OBJECT_ARRAY) {
		for (uint32_t i = 0; i < o->via.array.size; i++)
			if ((d = fuzz_obj_depth(&o->via.array.ptr[i])) > deepest)
				deepest = d;
	} else if (o->type == MSGPACK_OBJECT_MAP) {
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			if ((d = fuzz_obj_depth(&o->via.map.ptr[i].key)) > deepest)
				deepest = d;
			if ((d = fuzz_obj_depth(&o->via.map.ptr[i].val)) > deepest)
				deepest = d;
		}
	} else {
		return 0;
	}
	return deepest + 1;
}

#endif

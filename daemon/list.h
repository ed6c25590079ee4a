/* Intrusive circular doubly-linked lists with a sentinel head. */
#ifndef MCPPOOL_LIST_H
#define MCPPOOL_LIST_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A node is embedded in the object it links; the list head is a node of its
 * own that is never an object. An unlinked node points at itself, so
 * list_linked() tells whether a node is on some list. Invariant for every
 * linked node n: n->next->prev == n and n->prev->next == n.
 */
struct list_node {
	struct list_node *prev, *next;
};

/* The object that contains the node ptr, which is its member `member`. */
#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define list_entry(node, type, member) container_of(node, type, member)

/* Walks head's nodes from head to tail; pos must not be unlinked during the walk. */
#define list_for_each(pos, head) \
	for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

/* Walks head's nodes; pos (and only pos) may be unlinked during the walk. */
#define list_for_each_safe(pos, tmp, head) \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); \
	     (pos) = (tmp), (tmp) = (pos)->next)

/* Makes n an empty list head, or an unlinked node. */
static inline void list_init(struct list_node *n)
{
	n->prev = n;
	n->next = n;
}

static inline bool list_empty(const struct list_node *head)
{
	return head->next == head;
}

/* True when the node n is on a list (it was initialised and is not unlinked). */
static inline bool list_linked(const struct list_node *n)
{
	return n->next != n;
}

static inline void list_insert_between(struct list_node *n, struct list_node *prev,
				       struct list_node *next)
{
	n->prev = prev;
	n->next = next;
	prev->next = n;
	next->prev = n;
}

/* Links n right after pos (pos may be the head: n becomes the first node). */
static inline void list_insert_after(struct list_node *pos, struct list_node *n)
{
	list_insert_between(n, pos, pos->next);
}

static inline void list_add_head(struct list_node *head, struct list_node *n)
{
	list_insert_between(n, head, head->next);
}

static inline void list_add_tail(struct list_node *head, struct list_node *n)
{
	list_insert_between(n, head->prev, head);
}

/* Unlinks n and leaves it unlinked (pointing at itself); harmless on an unlinked node. */
static inline void list_del(struct list_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

/* The first node, or NULL when the list is empty. */
static inline struct list_node *list_first(const struct list_node *head)
{
	return list_empty(head) ? NULL : head->next;
}

/* The last node, or NULL when the list is empty. */
static inline struct list_node *list_last(const struct list_node *head)
{
	return list_empty(head) ? NULL : head->prev;
}

/* Counts the nodes: O(n), for checks and tests. */
static inline size_t list_length(const struct list_node *head)
{
	size_t n = 0;
	const struct list_node *pos;

	for (pos = head->next; pos != head; pos = pos->next)
		n++;
	return n;
}

#endif

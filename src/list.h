/* list.h - the one intrusive list every part of cport uses: a circular,
 * doubly-linked list with a head that is its own sentinel. An element is on
 * a list through a named struct cport_link in it, so which list an op can be
 * on reads from the link's name. A link that is on no list is zeroed. */
#ifndef CPORT_LIST_H
#define CPORT_LIST_H

#include "cport.h"

#include <stdbool.h>
#include <stddef.h>

struct list {
	struct cport_link head;
	unsigned len;
};

#define list_entry(link, type, member) cport_container_of(link, type, member)

static inline void list_init(struct list *l)
{
	l->head._next = l->head._prev = &l->head;
	l->len = 0;
}

static inline bool list_empty(const struct list *l)
{
	return l->len == 0;
}

/* Whether the link is on some list (links off every list are zeroed). */
static inline bool link_linked(const struct cport_link *k)
{
	return k->_next != NULL;
}

static inline void list_push_back(struct list *l, struct cport_link *k)
{
	k->_prev = l->head._prev;
	k->_next = &l->head;
	l->head._prev->_next = k;
	l->head._prev = k;
	l->len++;
}

static inline void list_push_front(struct list *l, struct cport_link *k)
{
	k->_next = l->head._next;
	k->_prev = &l->head;
	l->head._next->_prev = k;
	l->head._next = k;
	l->len++;
}

static inline void list_remove(struct list *l, struct cport_link *k)
{
	k->_prev->_next = k->_next;
	k->_next->_prev = k->_prev;
	k->_next = k->_prev = NULL;
	l->len--;
}

/* The first link, taken off the list; NULL if empty. */
static inline struct cport_link *list_pop_front(struct list *l)
{
	if (list_empty(l))
		return NULL;
	struct cport_link *k = l->head._next;
	list_remove(l, k);
	return k;
}

/* Move every element of from to the end of to, in order; from is left empty. */
static inline void list_splice_back(struct list *to, struct list *from)
{
	if (list_empty(from))
		return;
	struct cport_link *first = from->head._next, *last = from->head._prev;
	first->_prev = to->head._prev;
	to->head._prev->_next = first;
	last->_next = &to->head;
	to->head._prev = last;
	to->len += from->len;
	list_init(from);
}

/* Walk a list; the body may remove the current element (it keeps its successor). */
#define list_for_each_safe(l, k, nx)                                                                         \
	for (struct cport_link *k = (l)->head._next, *nx = k->_next; k != &(l)->head; k = nx, nx = k->_next)

/* The same list with a head of one pointer and no count, for the heads
 * there is one of per fd (epoll's queues): the elements alone form the
 * circle, and the head names the first of them, or NULL. */
struct clist {
	struct cport_link *first;
};

static inline void clist_init(struct clist *l)
{
	l->first = NULL;
}

static inline bool clist_empty(const struct clist *l)
{
	return l->first == NULL;
}

static inline void clist_push_back(struct clist *l, struct cport_link *k)
{
	struct cport_link *first = l->first;
	if (!first) {
		k->_next = k->_prev = k;
		l->first = k;
		return;
	}
	k->_prev = first->_prev;
	k->_next = first;
	first->_prev->_next = k;
	first->_prev = k;
}

static inline void clist_remove(struct clist *l, struct cport_link *k)
{
	if (k->_next == k) {
		l->first = NULL;
	} else {
		k->_prev->_next = k->_next;
		k->_next->_prev = k->_prev;
		if (l->first == k)
			l->first = k->_next;
	}
	k->_next = k->_prev = NULL;
}

/* The first link, taken off the list; NULL if empty. */
static inline struct cport_link *clist_pop_front(struct clist *l)
{
	struct cport_link *k = l->first;
	if (k)
		clist_remove(l, k);
	return k;
}

#endif

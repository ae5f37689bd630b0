/* registry.c - the table of schemes: those built in, assembled by the
 * build from the devices built (schemes.c, generated from
 * schemes.c.in by src/meson.build), then those a program registers at
 * run time with mblk_scheme_register.
 *
 * The built-in table is constant. Registered schemes go into a small
 * fixed array under a mutex; entries are only ever added, so a pointer
 * found once stays valid for the process's life.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "open.h"

#define MAX_REGISTERED 32

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct mblk_scheme *registered[MAX_REGISTERED];
static int nregistered;

static int builtin_count(void)
{
	int n = 0;
	while (mblk__builtin_schemes[n] != NULL)
		n++;
	return n;
}

const struct mblk_scheme *mblk_scheme_at(int i)
{
	int nb = builtin_count();
	if (i < 0)
		return NULL;
	if (i < nb)
		return mblk__builtin_schemes[i];
	pthread_mutex_lock(&reg_lock);
	const struct mblk_scheme *s = i - nb < nregistered ? registered[i - nb]
							   : NULL;
	pthread_mutex_unlock(&reg_lock);
	return s;
}

const struct mblk_scheme *mblk__scheme_find(const char *name)
{
	const struct mblk_scheme *s;
	for (int i = 0; (s = mblk_scheme_at(i)) != NULL; i++)
		if (strcasecmp(s->name, name) == 0)
			return s;
	return NULL;
}

const char *mblk__scheme_missing(const char *name)
{
	for (int i = 0; mblk__missing_schemes[i].name != NULL; i++)
		if (strcasecmp(mblk__missing_schemes[i].name, name) == 0)
			return mblk__missing_schemes[i].why;
	return NULL;
}

int mblk_scheme_register(const struct mblk_scheme *s)
{
	if (s == NULL || s->name == NULL || s->open == NULL)
		return mblk_set_error(-EINVAL, "mblk_scheme_register: a scheme "
					       "needs a name and an opener");
	pthread_mutex_lock(&reg_lock);
	int r = 0;
	bool taken = false;
	for (int i = 0; mblk__builtin_schemes[i] != NULL; i++)
		if (strcasecmp(mblk__builtin_schemes[i]->name, s->name) == 0)
			taken = true;
	for (int i = 0; i < nregistered; i++)
		if (strcasecmp(registered[i]->name, s->name) == 0)
			taken = true;
	if (taken)
		r = mblk_set_error(-EEXIST, "the scheme '%s' exists already",
				   s->name);
	else if (nregistered == MAX_REGISTERED)
		r = mblk_set_error(-ENOSPC,
				   "cannot register the scheme '%s': %d are "
				   "registered already",
				   s->name, MAX_REGISTERED);
	else
		registered[nregistered++] = s;
	pthread_mutex_unlock(&reg_lock);
	return r;
}

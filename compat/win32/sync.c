/* sync.c - critical sections: recursive mutexes, as Windows' are. */
#include "shim.h"

void InitializeCriticalSection(LPCRITICAL_SECTION cs)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&cs->cport_mutex, &a);
	pthread_mutexattr_destroy(&a);
}

BOOL InitializeCriticalSectionAndSpinCount(LPCRITICAL_SECTION cs, DWORD spin)
{
	(void)spin; /* glibc's mutex decides how long to spin */
	InitializeCriticalSection(cs);
	return TRUE;
}

void EnterCriticalSection(LPCRITICAL_SECTION cs)
{
	pthread_mutex_lock(&cs->cport_mutex);
}

BOOL TryEnterCriticalSection(LPCRITICAL_SECTION cs)
{
	return pthread_mutex_trylock(&cs->cport_mutex) == 0;
}

void LeaveCriticalSection(LPCRITICAL_SECTION cs)
{
	pthread_mutex_unlock(&cs->cport_mutex);
}

void DeleteCriticalSection(LPCRITICAL_SECTION cs)
{
	pthread_mutex_destroy(&cs->cport_mutex);
}

/* The syscall floor of a verified userspace RESOLVE_BENEATH walk, in C: for a
 * 10-component path, what bench_openat2.py's resolver cannot do with fewer calls
 * (an O_PATH|O_NOFOLLOW openat and an fstat per component, the names walked again
 * from the root, the reopen through /proc/self/fd and its identity check), and the
 * kernel's openat2 on the same path.  Prints both times in microseconds. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/openat2.h>
#include <time.h>
#include <unistd.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
int main(int argc, char **argv){
  if(argc!=2){fprintf(stderr,"usage: floor DIR\n");return 2;}
  const char *names[10]={"d0","d1","d2","d3","d4","d5","d6","d7","d8","f"};
  int root=open(argv[1],O_PATH|O_DIRECTORY); if(root<0){perror(argv[1]);return 1;} int N=20000; struct stat st; char p[64];
  double t0=now();
  for(int i=0;i<N;i++){ /* the walk: openat O_PATH|O_NOFOLLOW + fstat per component */
    int fds[11]; fds[0]=root; for(int k=0;k<10;k++){fds[k+1]=openat(fds[k],names[k],O_PATH|O_NOFOLLOW|O_CLOEXEC);fstat(fds[k+1],&st);}
    /* the verify: the names again from the root */
    int cur=root; for(int k=0;k<10;k++){int n=openat(cur,names[k],O_PATH|O_NOFOLLOW|O_CLOEXEC); if(cur!=root)close(cur); cur=n;} fstat(cur,&st); close(cur);
    snprintf(p,sizeof p,"/proc/self/fd/%d",fds[10]); int r=open(p,O_RDONLY|O_CLOEXEC); fstat(r,&st); fstat(fds[10],&st);
    for(int k=1;k<=10;k++)close(fds[k]); close(r);}
  double t1=now();
  struct open_how how={.flags=O_RDONLY|O_CLOEXEC,.resolve=RESOLVE_BENEATH};
  for(int i=0;i<N;i++){int r=syscall(SYS_openat2,root,"d0/d1/d2/d3/d4/d5/d6/d7/d8/f",&how,sizeof how);close(r);}
  double t2=now();
  printf("%.3f %.3f\n",(t1-t0)/N*1e6,(t2-t1)/N*1e6);
}

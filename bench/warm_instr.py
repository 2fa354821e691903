#!/usr/bin/env python3
"""Instructions per request with and without -e (valgrind --tool=callgrind, keel -t 1, one
connection, no pipelining, 1,000 keys, 32-byte values): the difference between runs of N and 2N
requests, divided by N. GET-heavy is 9:1 GET:SET, SET-heavy 1:9.

    cargo build --release -p keel-server && python3 bench/warm_instr.py [N]
"""
import socket,subprocess,time,os,sys,glob,re
bin=os.path.join(os.path.dirname(os.path.abspath(__file__)),"..","target","release","keel")
os.makedirs("/tmp/cg",exist_ok=True)
def run(efile, workload, n):
    for f in glob.glob("/tmp/cg/out.*"): os.remove(f)
    args=["valgrind","--tool=callgrind","--callgrind-out-file=/tmp/cg/out.%p",bin,"-u","root","-p","23700","-U","0","-t","1","-m","64"]
    if efile:
        os.system("rm -f /dev/shm/keel-cg"); args+=["-e","/dev/shm/keel-cg"]
    p=subprocess.Popen(args,stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL)
    while True:
        try: s=socket.create_connection(("127.0.0.1",23700)); break
        except OSError: time.sleep(0.1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f=s.makefile("rb")
    val=b"x"*32
    for i in range(1000):
        s.sendall(b"set key:%011d 0 0 32\r\n%s\r\n"%(i,val)); f.readline()
    for i in range(n):
        k=i%1000
        if (workload=="set") == (i%10!=0):
            s.sendall(b"set key:%011d 0 0 32\r\n%s\r\n"%(k,val)); f.readline()
        else:
            s.sendall(b"get key:%011d\r\n"%k); f.readline(); f.readline(); f.readline()
    s.close(); p.send_signal(15); p.wait()
    tot=0
    for fn in glob.glob("/tmp/cg/out.*"):
        for l in open(fn):
            m=re.match(r"(summary|totals): (\d+)",l)
            if m: tot+=int(m.group(2)); break
    return tot
N=int(sys.argv[1]) if len(sys.argv)>1 else 10000
for workload in ["get","set"]:
    for efile in [False,True]:
        a=run(efile,workload,N); b=run(efile,workload,2*N)
        print(f"{workload}-heavy (9:1) {'-e' if efile else 'no -e'}: {(b-a)/N:.0f} Ir/request", flush=True)
os.system("rm -f /dev/shm/keel-cg")

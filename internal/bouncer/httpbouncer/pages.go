package httpbouncer

import (
	"html/template"
)

// The pages are self-contained: no external script, style, font or image,
// so they work with no Internet access and leak nothing to third parties.

type banData struct {
	IP   string
	Time string
}

var banPage = template.Must(template.New("ban").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>Access denied</title>
<style>body{font-family:system-ui,sans-serif;background:#f4f4f5;color:#18181b;display:flex;min-height:100vh;margin:0;align-items:center;justify-content:center}
main{background:#fff;max-width:34rem;padding:2rem 2.5rem;border-radius:12px;box-shadow:0 2px 12px #0002}h1{color:#b91c1c;margin-top:0}
code{background:#f4f4f5;padding:.1rem .3rem;border-radius:4px}small{color:#71717a}</style></head>
<body><main><h1>Access denied</h1>
<p>Your address <code>{{.IP}}</code> has been blocked by this site's security system because of suspicious activity.</p>
<p>If you think this is a mistake, contact the site's administrator and give them your address and the time below.</p>
<p><small>{{.Time}} · Phalanx</small></p></main></body></html>
`))

type challengeData struct {
	IP        string
	Challenge string
	Bits      int
	Action    string
	Redirect  string
	Failed    bool
}

// challengePage solves the proof of work in the browser: it looks for a
// decimal nonce such that SHA-256(challenge || nonce) starts with Bits zero
// bits, then posts it. SHA-256 is computed in plain JavaScript (WebCrypto
// is only available in secure contexts and is asynchronous per hash).
var challengePage = template.Must(template.New("challenge").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>Checking your browser</title>
<style>body{font-family:system-ui,sans-serif;background:#f4f4f5;color:#18181b;display:flex;min-height:100vh;margin:0;align-items:center;justify-content:center}
main{background:#fff;max-width:34rem;padding:2rem 2.5rem;border-radius:12px;box-shadow:0 2px 12px #0002}h1{margin-top:0}
small{color:#71717a}.err{color:#b91c1c}</style></head>
<body><main><h1>Checking your browser</h1>
{{if .Failed}}<p class="err">The previous answer was not accepted; trying again.</p>{{end}}
<p>This site needs a short computation from your browser before letting you in. It takes a few seconds and happens only once in a while.</p>
<p id="status">Working…</p>
<noscript><p class="err">Please enable JavaScript to continue.</p></noscript>
<form id="pow" method="POST" action="{{.Action}}">
<input type="hidden" name="challenge" value="{{.Challenge}}">
<input type="hidden" name="redirect" value="{{.Redirect}}">
<input type="hidden" name="nonce" id="nonce" value="">
</form>
<p><small>Address {{.IP}} · Phalanx</small></p></main>
<script>
(function(){
"use strict";
var challenge={{.Challenge}}, bits={{.Bits}};
function primes(n){var p=[],c=2;while(p.length<n){var ok=true;for(var i=0;i<p.length&&p[i]*p[i]<=c;i++){if(c%p[i]===0){ok=false;break}}if(ok)p.push(c);c++}return p}
var P=primes(64),K=new Int32Array(64),H0=new Int32Array(8);
function frac(x){return ((x-Math.floor(x))*4294967296)|0}
for(var i=0;i<64;i++)K[i]=frac(Math.cbrt(P[i]));
for(i=0;i<8;i++)H0[i]=frac(Math.sqrt(P[i]));
var w=new Int32Array(64),H=new Int32Array(8);
function sha256(s){
var l=s.length,n=((l+8)>>6)+1<<4,M=new Int32Array(n),j,t;
for(j=0;j<l;j++)M[j>>2]|=(s.charCodeAt(j)&255)<<(24-(j&3)*8);
M[l>>2]|=128<<(24-(l&3)*8);M[n-1]=l*8;
H.set(H0);
for(j=0;j<n;j+=16){
for(t=0;t<16;t++)w[t]=M[j+t];
for(t=16;t<64;t++){var x=w[t-15],y=w[t-2];
w[t]=(w[t-16]+((x>>>7|x<<25)^(x>>>18|x<<14)^(x>>>3))+w[t-7]+((y>>>17|y<<15)^(y>>>19|y<<13)^(y>>>10)))|0}
var a=H[0],b=H[1],c=H[2],d=H[3],e=H[4],f=H[5],g=H[6],h=H[7];
for(t=0;t<64;t++){
var t1=(h+((e>>>6|e<<26)^(e>>>11|e<<21)^(e>>>25|e<<7))+((e&f)^(~e&g))+K[t]+w[t])|0;
var t2=(((a>>>2|a<<30)^(a>>>13|a<<19)^(a>>>22|a<<10))+((a&b)^(a&c)^(b&c)))|0;
h=g;g=f;f=e;e=(d+t1)|0;d=c;c=b;b=a;a=(t1+t2)|0}
H[0]+=a;H[1]+=b;H[2]+=c;H[3]+=d;H[4]+=e;H[5]+=f;H[6]+=g;H[7]+=h}
return H}
function zeros(h){var z=0;for(var i=0;i<8;i++){if(h[i]===0){z+=32;continue}return z+Math.clz32(h[i])}return z}
window.phalanxSHA256=function(s){var h=sha256(s),o="";for(var i=0;i<8;i++)o+=("00000000"+(h[i]>>>0).toString(16)).slice(-8);return o};
var nonce=0,start=Date.now(),st=document.getElementById("status");
function work(){
var end=nonce+20000;
for(;nonce<end;nonce++){if(zeros(sha256(challenge+nonce))>=bits){
document.getElementById("nonce").value=String(nonce);
st.textContent="Done, redirecting…";
document.getElementById("pow").submit();return}}
st.textContent="Working… "+nonce+" attempts, "+((Date.now()-start)/1000).toFixed(1)+" s";
setTimeout(work,0)}
setTimeout(work,0);
})();
</script></body></html>
`))

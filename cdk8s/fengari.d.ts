// Type declarations for the part of fengari (a Lua 5.3 VM in JavaScript, no types of its own) that
// argocd-health.test.ts uses to run the Argo CD RenderJob health check. Lua strings are byte arrays.
declare module 'fengari' {
  type LuaState = object;
  type LuaString = Uint8Array;
  type CFunction = (L: LuaState) => number;
  export function to_luastring(s: string): LuaString;
  export function to_jsstring(s: LuaString): string;
  export const lua: {
    LUA_OK: number;
    LUA_TNIL: number;
    LUA_TTABLE: number;
    lua_pushnil(L: LuaState): void;
    lua_pushboolean(L: LuaState, b: boolean): void;
    lua_pushnumber(L: LuaState, n: number): void;
    lua_pushstring(L: LuaState, s: LuaString): void;
    lua_createtable(L: LuaState, narr: number, nrec: number): void;
    lua_setfield(L: LuaState, idx: number, k: LuaString): void;
    lua_getfield(L: LuaState, idx: number, k: LuaString): number;
    lua_rawseti(L: LuaState, idx: number, n: number): void;
    lua_setglobal(L: LuaState, name: LuaString): void;
    lua_pcall(L: LuaState, nargs: number, nresults: number, errfunc: number): number;
    lua_type(L: LuaState, idx: number): number;
    lua_tojsstring(L: LuaState, idx: number): string;
    lua_pop(L: LuaState, n: number): void;
    lua_gettop(L: LuaState): number;
    lua_settop(L: LuaState, idx: number): void;
  };
  export const lauxlib: {
    luaL_newstate(): LuaState;
    luaL_loadstring(L: LuaState, s: LuaString): number;
    luaL_requiref(L: LuaState, modname: LuaString, openf: CFunction, glb: boolean | number): void;
  };
  export const lualib: {
    luaopen_base: CFunction;
    luaopen_table: CFunction;
    luaopen_string: CFunction;
    luaopen_math: CFunction;
    luaopen_coroutine: CFunction;
  };
  const fengari: { to_luastring: typeof to_luastring; to_jsstring: typeof to_jsstring; lua: typeof lua; lauxlib: typeof lauxlib; lualib: typeof lualib };
  export default fengari;
}

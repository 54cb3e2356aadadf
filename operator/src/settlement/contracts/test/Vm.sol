// SPDX-License-Identifier: Apache-2.0
// The few forge cheatcodes the escrow tests use, declared against forge's cheatcode address
// (keccak256("hevm cheat code")), instead of depending on forge-std, which npm does not carry.
pragma solidity ^0.8.28;

interface Vm {
    function prank(address sender) external;
    function warp(uint256 timestamp) external;
    function assume(bool condition) external pure;
}

abstract contract CheatCodes {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// Maps `x` into [min, max] without discarding inputs (the fuzzer's values stay useful).
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        require(min <= max, "bound: min > max");
        if (x >= min && x <= max) return x;
        return min + (x % (max - min + 1));
    }
}

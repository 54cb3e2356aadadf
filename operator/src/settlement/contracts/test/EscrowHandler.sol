// SPDX-License-Identifier: Apache-2.0
// The actor forge's invariant runner drives against AtelierEscrow: random opens, top-ups, releases,
// refunds and cancels by random callers (payers, providers, a stranger), with time moving forward,
// including calls that must fail (a second release, a refund before the deadline, a stranger's
// release). Every call goes through try/catch, so the handler itself never reverts; what the escrow
// accepted is recorded as ghost state, and every token movement of an accepted call is measured on
// every actor's balance, for EscrowInvariants.t.sol to check.
pragma solidity ^0.8.28;

import {AtelierEscrow} from "../AtelierEscrow.sol";
import {TestToken} from "../TestToken.sol";
import {CheatCodes} from "./Vm.sol";

contract EscrowHandler is CheatCodes {
    AtelierEscrow public immutable escrow;
    TestToken public immutable token;
    address[] public actors; // 0..1 payers, 2..3 providers, 4 a stranger
    bytes32[] public ids;

    mapping(bytes32 => address) public payerOf;
    mapping(bytes32 => address) public providerOf;
    mapping(bytes32 => uint256) public funded; // what the payer put in, open plus top-ups
    mapping(bytes32 => uint256) public closes; // accepted release, refund or cancel calls
    mapping(bytes32 => uint256) public paidToProvider;
    uint256 public wrongRecipient; // accepted refunds/cancels/releases that moved tokens unexpectedly
    uint256 public accepted;

    constructor(AtelierEscrow escrow_) {
        escrow = escrow_;
        token = new TestToken("Test USD", "tUSD"); // the handler owns the token, so it may mint
        for (uint160 i = 1; i <= 5; i++) actors.push(address(0xA11CE000 + i));
        for (uint256 i = 0; i < 2; i++) token.mint(actors[i], 1e30);
    }

    function idCount() external view returns (uint256) {
        return ids.length;
    }

    function _actor(uint256 seed) private view returns (address) {
        return actors[seed % actors.length];
    }

    function _id(uint256 seed) private view returns (bytes32) {
        if (ids.length == 0) return keccak256("none");
        return ids[seed % ids.length];
    }

    function _balances() private view returns (uint256[] memory b) {
        b = new uint256[](actors.length);
        for (uint256 i = 0; i < actors.length; i++) b[i] = token.balanceOf(actors[i]);
    }

    /// Checks that between `before` and now only `to` gained, by exactly `amount`, and that one other
    /// (`to2`) gained exactly `amount2`; nobody else's balance moved.
    function _onlyPaid(uint256[] memory before, address to, uint256 amount, address to2, uint256 amount2) private {
        for (uint256 i = 0; i < actors.length; i++) {
            uint256 gained = token.balanceOf(actors[i]) - before[i];
            uint256 want = (actors[i] == to ? amount : 0) + (actors[i] == to2 ? amount2 : 0);
            if (gained != want) wrongRecipient++;
        }
    }

    function open(uint256 payerSeed, uint256 providerSeed, uint256 amount, uint256 deadlineIn, bool reuseId, uint256 idSeed)
        external
    {
        address payer = actors[payerSeed % 2];
        address provider = actors[2 + (providerSeed % 3)]; // providers, or the stranger as a provider
        amount = bound(amount, 0, 1e24);
        deadlineIn = bound(deadlineIn, 0, 30 days);
        bytes32 id = reuseId ? _id(idSeed) : keccak256(abi.encode("escrow", ids.length, payerSeed));
        vm.prank(payer);
        token.approve(address(escrow), amount);
        vm.prank(payer);
        try escrow.open(id, address(token), provider, amount, uint64(block.timestamp + deadlineIn)) {
            require(payerOf[id] == address(0), "an existing id was opened again");
            ids.push(id);
            payerOf[id] = payer;
            providerOf[id] = provider;
            funded[id] = amount;
            accepted++;
        } catch {}
    }

    function topUp(uint256 idSeed, uint256 callerSeed, uint256 add) external {
        bytes32 id = _id(idSeed);
        address caller = _actor(callerSeed);
        uint256 newAmount = funded[id] + bound(add, 0, 1e24);
        vm.prank(caller);
        token.approve(address(escrow), newAmount - funded[id]);
        vm.prank(caller);
        try escrow.topUp(id, newAmount) {
            require(caller == payerOf[id], "a non-payer topped up");
            funded[id] = newAmount;
            accepted++;
        } catch {}
    }

    function release(uint256 idSeed, uint256 callerSeed, uint256 toProvider) external {
        bytes32 id = _id(idSeed);
        address caller = callerSeed % 3 == 0 ? _actor(callerSeed / 3) : payerOf[id];
        toProvider = bound(toProvider, 0, funded[id] + 10);
        uint256[] memory before = _balances();
        vm.prank(caller);
        try escrow.release(id, toProvider, keccak256(abi.encode(toProvider))) {
            require(caller == payerOf[id], "a non-payer released");
            closes[id]++;
            paidToProvider[id] += toProvider;
            _onlyPaid(before, providerOf[id], toProvider, payerOf[id], funded[id] - toProvider);
            accepted++;
        } catch {}
    }

    function refund(uint256 idSeed, uint256 callerSeed, uint256 waitFor) external {
        bytes32 id = _id(idSeed);
        vm.warp(block.timestamp + bound(waitFor, 0, 40 days));
        uint256[] memory before = _balances();
        vm.prank(_actor(callerSeed));
        try escrow.refund(id) {
            closes[id]++;
            _onlyPaid(before, payerOf[id], funded[id], address(0), 0);
            accepted++;
        } catch {}
    }

    function cancel(uint256 idSeed, uint256 callerSeed) external {
        bytes32 id = _id(idSeed);
        address caller = callerSeed % 2 == 0 ? _actor(callerSeed / 2) : payerOf[id];
        uint256[] memory before = _balances();
        vm.prank(caller);
        try escrow.cancel(id) {
            require(caller == payerOf[id], "a non-payer cancelled");
            closes[id]++;
            _onlyPaid(before, payerOf[id], funded[id], address(0), 0);
            accepted++;
        } catch {}
    }
}

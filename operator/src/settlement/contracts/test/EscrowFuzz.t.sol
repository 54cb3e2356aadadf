// SPDX-License-Identifier: Apache-2.0
// Fuzz tests of AtelierEscrow's single steps (forge, 1,000 runs each, see foundry.toml): a release
// splits the funds exactly between provider and payer and never twice; only the payer releases,
// tops up or cancels; a refund works only after the deadline and only ever pays the payer; a top-up
// only raises the amount, and a replayed one is refused; an id can be opened only once.
pragma solidity ^0.8.28;

import {AtelierEscrow} from "../AtelierEscrow.sol";
import {TestToken} from "../TestToken.sol";
import {CheatCodes} from "./Vm.sol";

contract EscrowFuzz is CheatCodes {
    AtelierEscrow internal escrow;
    TestToken internal token;
    address internal constant PAYER = address(0xBA7E5);
    address internal constant PROVIDER = address(0x9B0F1DE5);
    bytes32 internal constant ID = keccak256("job-uid/provider");

    function setUp() public {
        escrow = new AtelierEscrow();
        token = new TestToken("Test USD", "tUSD");
        token.mint(PAYER, 1e30);
        vm.warp(1_700_000_000);
    }

    function _open(uint256 amount, uint64 deadline) internal {
        vm.prank(PAYER);
        token.approve(address(escrow), amount);
        vm.prank(PAYER);
        escrow.open(ID, address(token), PROVIDER, amount, deadline);
    }

    function _selector(bytes memory err) internal pure returns (bytes4) {
        require(err.length >= 4, "reverted without a custom error");
        return bytes4(err);
    }

    function testFuzz_releaseSplitsExactlyOnce(uint256 amount, uint256 toProvider) public {
        amount = bound(amount, 1, 1e27);
        toProvider = bound(toProvider, 0, amount);
        _open(amount, uint64(block.timestamp + 1 days));
        uint256 payerBefore = token.balanceOf(PAYER);
        vm.prank(PAYER);
        escrow.release(ID, toProvider, bytes32(toProvider));
        require(token.balanceOf(PROVIDER) == toProvider, "provider got a different amount");
        require(token.balanceOf(PAYER) - payerBefore == amount - toProvider, "payer did not get the rest");
        require(token.balanceOf(address(escrow)) == 0, "escrow kept tokens");
        vm.prank(PAYER);
        try escrow.release(ID, 0, bytes32(0)) {
            revert("released twice");
        } catch (bytes memory err) {
            require(_selector(err) == AtelierEscrow.EscrowNotOpen.selector, "wrong error on a second release");
        }
        try escrow.refund(ID) {
            revert("refunded after release");
        } catch (bytes memory err) {
            require(_selector(err) == AtelierEscrow.EscrowNotOpen.selector, "wrong error on refund after release");
        }
    }

    function testFuzz_releaseNeverExceedsFunded(uint256 amount, uint256 toProvider) public {
        amount = bound(amount, 1, 1e27);
        toProvider = bound(toProvider, amount + 1, type(uint256).max);
        _open(amount, uint64(block.timestamp + 1 days));
        vm.prank(PAYER);
        try escrow.release(ID, toProvider, bytes32(0)) {
            revert("released more than funded");
        } catch (bytes memory err) {
            require(_selector(err) == AtelierEscrow.AmountExceedsFunded.selector, "wrong error");
        }
        require(token.balanceOf(PROVIDER) == 0, "provider was paid");
    }

    function testFuzz_onlyPayerReleasesAndCancels(address caller, uint256 amount) public {
        vm.assume(caller != PAYER);
        amount = bound(amount, 1, 1e27);
        _open(amount, uint64(block.timestamp + 1 days));
        vm.prank(caller);
        try escrow.release(ID, amount, bytes32(0)) {
            revert("a stranger released");
        } catch (bytes memory err) {
            require(_selector(err) == AtelierEscrow.NotPayer.selector, "wrong error on release");
        }
        vm.prank(caller);
        try escrow.cancel(ID) {
            revert("a stranger cancelled");
        } catch (bytes memory err) {
            require(_selector(err) == AtelierEscrow.NotPayer.selector, "wrong error on cancel");
        }
        require(token.balanceOf(address(escrow)) == amount, "funds moved");
    }

    function testFuzz_refundOnlyAfterDeadlineAndOnlyToPayer(address caller, uint256 amount, uint64 wait) public {
        vm.assume(caller != PAYER && caller != PROVIDER && caller != address(escrow));
        amount = bound(amount, 1, 1e27);
        uint64 deadline = uint64(block.timestamp + 1 days);
        _open(amount, deadline);
        uint256 when = bound(wait, 0, 60 days) + block.timestamp;
        vm.warp(when);
        uint256 payerBefore = token.balanceOf(PAYER);
        uint256 callerBefore = token.balanceOf(caller);
        vm.prank(caller);
        try escrow.refund(ID) {
            require(when > deadline, "refunded before the deadline");
            require(token.balanceOf(PAYER) - payerBefore == amount, "payer not refunded in full");
            require(token.balanceOf(caller) == callerBefore, "the caller got tokens");
            require(token.balanceOf(PROVIDER) == 0, "the provider got tokens");
        } catch (bytes memory err) {
            require(when <= deadline, "refund refused after the deadline");
            require(_selector(err) == AtelierEscrow.DeadlineNotReached.selector, "wrong error");
        }
    }

    function testFuzz_topUpOnlyRaises(uint256 amount, uint256 newAmount) public {
        amount = bound(amount, 1, 1e27);
        newAmount = bound(newAmount, 0, 2e27);
        _open(amount, uint64(block.timestamp + 1 days));
        vm.prank(PAYER);
        token.approve(address(escrow), newAmount > amount ? newAmount - amount : 0);
        vm.prank(PAYER);
        try escrow.topUp(ID, newAmount) {
            require(newAmount > amount, "top-up accepted without an increase");
            require(token.balanceOf(address(escrow)) == newAmount, "escrow holds a different amount");
            vm.prank(PAYER);
            try escrow.topUp(ID, newAmount) {
                revert("a replayed top-up was accepted");
            } catch (bytes memory err) {
                require(_selector(err) == AtelierEscrow.AmountNotIncreased.selector, "wrong error on replay");
            }
        } catch (bytes memory err) {
            require(newAmount <= amount, "a real increase was refused");
            require(_selector(err) == AtelierEscrow.AmountNotIncreased.selector, "wrong error");
        }
    }

    function testFuzz_openOnlyOnce(address other, uint256 amount) public {
        vm.assume(other != address(0));
        amount = bound(amount, 1, 1e27);
        _open(amount, uint64(block.timestamp + 1 days));
        token.mint(other, amount);
        vm.prank(other);
        token.approve(address(escrow), amount);
        vm.prank(other);
        try escrow.open(ID, address(token), other, amount, uint64(block.timestamp + 1 days)) {
            revert("an id was opened twice");
        } catch (bytes memory err) {
            require(_selector(err) == AtelierEscrow.EscrowExists.selector, "wrong error");
        }
        (address payer, address provider,, uint256 funded,,,) = escrow.escrows(ID);
        require(payer == PAYER && provider == PROVIDER && funded == amount, "the escrow changed");
    }
}
